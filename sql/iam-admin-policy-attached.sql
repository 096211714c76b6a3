-- id: iam-admin-policy-attached
-- title: Administrator access granted
-- severity: high
-- kind: detection
-- description: Successful grants of full administrator rights to an IAM user, role or group: the AWS managed AdministratorAccess policy attached (AttachUserPolicy, AttachRolePolicy, AttachGroupPolicy; a customer managed policy of the same name is not it), or an inline policy (PutUserPolicy, PutRolePolicy, PutGroupPolicy) with a statement that has Effect Allow, Action * and Resource * (as strings or in lists).
-- references: MITRE ATT&CK T1098 (account manipulation); CIS AWS Foundations Benchmark v3.0.0 1.16 (no full administrative privileges policies); AWS Security Hub IAM.1; Stratus Red Team aws.persistence.iam-create-admin-user
-- params: none
-- test-params: none
WITH grants AS (
  SELECT
    eventtime,
    eventid,
    eventname,
    coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
    coalesce(recipientaccountid, useridentity.accountid) AS recipientaccountid,
    sourceipaddress,
    json_extract_scalar(requestparameters, '$.userName') AS user_name,
    json_extract_scalar(requestparameters, '$.roleName') AS role_name,
    json_extract_scalar(requestparameters, '$.groupName') AS group_name,
    json_extract_scalar(requestparameters, '$.policyArn') AS policy_arn,
    json_extract_scalar(requestparameters, '$.policyName') AS policy_name,
    -- policyDocument is the policy's JSON text inside a JSON string
    json_extract(json_extract_scalar(requestparameters, '$.policyDocument'), '$.Statement') AS statement_list
  FROM cloudtrail
  WHERE eventtime >= $since AND eventtime < $until
    AND eventsource = 'iam.amazonaws.com'
    AND errorcode IS NULL
    AND eventname IN ('AttachUserPolicy', 'AttachRolePolicy', 'AttachGroupPolicy',
                      'PutUserPolicy', 'PutRolePolicy', 'PutGroupPolicy')
),
-- One row per inline policy statement (Statement is an array, or a single object).
statements AS (
  SELECT g.eventid, CASE WHEN n IS NULL THEN g.statement_list ELSE json_array_get(g.statement_list, s.i) END AS statement
  FROM (SELECT eventid, statement_list, json_array_length(statement_list) AS n FROM grants WHERE statement_list IS NOT NULL) g
  CROSS JOIN UNNEST(generate_series(0, coalesce(g.n, 1) - 1)) AS s (i)
),
admin_inline AS (
  SELECT DISTINCT eventid
  FROM statements
  WHERE json_extract_scalar(statement, '$.Effect') = 'Allow'
    AND (json_extract_scalar(statement, '$.Action') = '*' OR json_extract(statement, '$.Action') LIKE '%"*"%')
    AND (json_extract_scalar(statement, '$.Resource') = '*' OR json_extract(statement, '$.Resource') LIKE '%"*"%')
)
SELECT
  g.eventtime AS event_time,
  g.principal,
  g.recipientaccountid AS account,
  g.eventname AS event_name,
  CASE WHEN g.user_name IS NOT NULL THEN 'user' WHEN g.role_name IS NOT NULL THEN 'role' ELSE 'group' END AS target_type,
  coalesce(g.user_name, g.role_name, g.group_name) AS target,
  coalesce(g.policy_arn, 'inline: ' || g.policy_name) AS policy,
  g.sourceipaddress AS source_ip,
  g.eventid AS event_id
FROM grants g
LEFT JOIN admin_inline a ON a.eventid = g.eventid
WHERE regexp_like(g.policy_arn, '^arn:aws[a-z-]*:iam::aws:policy/AdministratorAccess$')
   OR a.eventid IS NOT NULL
ORDER BY event_time, event_id
