-- id: iam-users-and-roles-created
-- title: IAM users and roles created
-- severity: low
-- kind: investigation
-- description: IAM users and roles that were created (CreateUser, CreateRole, CreateServiceLinkedRole that succeeded), with who created them, from where, and the new identity's ARN, path and permissions boundary. Failed attempts are in cis-unauthorized-api-calls; trust policies of new roles are in role-trust-policy-changes.
-- references: MITRE ATT&CK T1136.003 (create cloud account)
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(responseelements, '$.user.arn'),
    json_extract_scalar(responseelements, '$.role.arn')) AS created_arn,
  coalesce(
    json_extract_scalar(responseelements, '$.user.path'),
    json_extract_scalar(responseelements, '$.role.path')) AS path,
  json_extract_scalar(requestparameters, '$.permissionsBoundary') AS permissions_boundary,
  sourceipaddress AS source_ip,
  useragent AS user_agent,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventsource = 'iam.amazonaws.com'
  AND eventname IN ('CreateUser', 'CreateRole', 'CreateServiceLinkedRole')
  AND errorcode IS NULL
ORDER BY event_time, event_id
