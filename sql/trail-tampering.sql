-- id: trail-tampering
-- title: CloudTrail logging stopped, deleted or reduced
-- severity: critical
-- kind: detection
-- description: Calls that stop or reduce CloudTrail logging: StopLogging, DeleteTrail, UpdateTrail (bucket, regions, global events, KMS key) and PutEventSelectors (which events are logged), failed attempts included since an attempt is itself a signal. The request parameters show what changed. StartLogging and CreateTrail are in cis-cloudtrail-config-changes.
-- references: MITRE ATT&CK T1562.008 (disable or modify cloud logs); Stratus Red Team aws.defense-evasion.cloudtrail-stop, cloudtrail-delete, cloudtrail-event-selectors; CIS AWS Foundations Benchmark v1.4.0 4.5
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.name'),
    json_extract_scalar(requestparameters, '$.trailName')) AS trail,
  requestparameters AS request_parameters,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  useragent AS user_agent,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventsource = 'cloudtrail.amazonaws.com'
  AND eventname IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors')
ORDER BY event_time, event_id
