-- id: new-access-keys-and-login-profiles
-- title: New access keys and console passwords
-- severity: medium
-- kind: investigation
-- description: IAM access keys created (CreateAccessKey) and console passwords created or reset (CreateLoginProfile, UpdateLoginProfile), failed attempts included. for_other_identity is true when the caller acted on another identity than itself (a key or password made for another user, or by a role), a common persistence step; a root access key is shown with target_user root.
-- references: MITRE ATT&CK T1098.001 (additional cloud credentials); CIS AWS Foundations Benchmark v3.0.0 1.4 (no root access keys)
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
  json_extract_scalar(requestparameters, '$.userName') IS NOT NULL
    AND json_extract_scalar(requestparameters, '$.userName') IS DISTINCT FROM useridentity.username AS for_other_identity,
  json_extract_scalar(responseelements, '$.accessKey.accessKeyId') AS new_access_key_id,
  json_extract_scalar(requestparameters, '$.passwordResetRequired') AS password_reset_required,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  useragent AS user_agent,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventsource = 'iam.amazonaws.com'
  AND eventname IN ('CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile')
ORDER BY event_time, event_id
