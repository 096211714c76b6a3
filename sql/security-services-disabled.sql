-- id: security-services-disabled
-- title: GuardDuty, Security Hub or AWS Config disabled
-- severity: high
-- kind: detection
-- description: Calls that turn off threat detection or configuration recording, failed attempts included: GuardDuty DeleteDetector, UpdateDetector with enable false, DisassociateFromMasterAccount or DisassociateFromAdministratorAccount; Security Hub DisableSecurityHub, BatchDisableStandards; AWS Config StopConfigurationRecorder, DeleteConfigurationRecorder, DeleteDeliveryChannel.
-- references: MITRE ATT&CK T1562.001 (disable or modify tools); AWS Security Hub GuardDuty.1, Config.1; CIS AWS Foundations Benchmark v1.4.0 4.9 and 4.16
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  replace(eventsource, '.amazonaws.com', '') AS service,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.detectorId'),
    json_extract_scalar(requestparameters, '$.configurationRecorderName'),
    json_extract_scalar(requestparameters, '$.deliveryChannelName'),
    json_extract(requestparameters, '$.StandardsSubscriptionArns')) AS resource,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND (
    (eventsource = 'guardduty.amazonaws.com'
      AND (eventname IN ('DeleteDetector', 'DisassociateFromMasterAccount', 'DisassociateFromAdministratorAccount')
           OR (eventname = 'UpdateDetector' AND json_extract_scalar(requestparameters, '$.enable') = 'false')))
    OR (eventsource = 'securityhub.amazonaws.com'
      AND eventname IN ('DisableSecurityHub', 'BatchDisableStandards'))
    OR (eventsource = 'config.amazonaws.com'
      AND eventname IN ('StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel')))
ORDER BY event_time, event_id
