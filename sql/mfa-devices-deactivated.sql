-- id: mfa-devices-deactivated
-- title: MFA devices deactivated or deleted
-- severity: medium
-- kind: detection
-- description: IAM MFA devices deactivated (DeactivateMFADevice) or virtual MFA devices deleted (DeleteVirtualMFADevice), the root user's included, failed attempts included. Removing another user's MFA is a step to taking over the account; it also happens when a user loses a phone, so check with the user.
-- references: MITRE ATT&CK T1556.006 (modify authentication process: MFA); CIS AWS Foundations Benchmark v3.0.0 1.5 and 1.10
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.userName'),
    useridentity.username,
    CASE WHEN useridentity.type = 'Root' THEN 'root' END) AS target_user,
  json_extract_scalar(requestparameters, '$.serialNumber') AS mfa_device,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventsource = 'iam.amazonaws.com'
  AND eventname IN ('DeactivateMFADevice', 'DeleteVirtualMFADevice')
ORDER BY event_time, event_id
