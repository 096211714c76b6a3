-- id: cis-cloudtrail-config-changes
-- title: CloudTrail configuration changes
-- severity: high
-- kind: detection
-- description: Trails created, updated or deleted and logging started or stopped, as the CIS metric filter {($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) || ($.eventName = StopLogging)}, failed calls included. Event selector changes (PutEventSelectors) are not in the filter: see trail-tampering.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.5 / v1.4.0 4.5 / v3.0.0 4.5; AWS Security Hub CloudWatch.5
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  json_extract_scalar(requestparameters, '$.name') AS trail,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname IN ('CreateTrail', 'UpdateTrail', 'DeleteTrail', 'StartLogging', 'StopLogging')
ORDER BY event_time, event_id
