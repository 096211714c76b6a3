-- id: cis-cmk-disabled-or-scheduled-deletion
-- title: KMS keys disabled or scheduled for deletion
-- severity: high
-- kind: detection
-- description: Customer managed KMS keys disabled or scheduled for deletion, as the CIS metric filter {($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion))}, failed calls included. Data encrypted under a deleted key is lost; kms-keys-disabled-or-scheduled-deletion shows whether each was reverted.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.7 / v1.4.0 4.7 / v3.0.0 4.7; AWS Security Hub CloudWatch.7
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  json_extract_scalar(requestparameters, '$.keyId') AS key_id,
  json_extract_scalar(requestparameters, '$.pendingWindowInDays') AS pending_window_days,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventsource = 'kms.amazonaws.com'
  AND eventname IN ('DisableKey', 'ScheduleKeyDeletion')
ORDER BY event_time, event_id
