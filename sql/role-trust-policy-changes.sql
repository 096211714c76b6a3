-- id: role-trust-policy-changes
-- title: Role trust policy changes
-- severity: medium
-- kind: investigation
-- description: Who may assume which role: trust policies set by UpdateAssumeRolePolicy and by CreateRole (its assumeRolePolicyDocument), failed attempts included, with the document on one line. trusts_any_principal is true when the document names the principal * (or AWS *), which lets any AWS account assume the role unless a condition stops it; outside_accounts lists the account IDs the document names (in IAM ARNs or as bare 12-digit IDs) other than the role's own account. A role trusting an unknown account is a classic backdoor.
-- references: MITRE ATT&CK T1098.003 (additional cloud roles); Stratus Red Team aws.persistence.iam-backdoor-role
-- params: none
-- test-params: none
WITH trust AS (
  SELECT
    eventtime,
    eventid,
    eventname,
    coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
    coalesce(recipientaccountid, useridentity.accountid) AS recipientaccountid,
    sourceipaddress,
    errorcode,
    json_extract_scalar(requestparameters, '$.roleName') AS role_name,
    regexp_replace(
      coalesce(
        json_extract_scalar(requestparameters, '$.policyDocument'),
        json_extract_scalar(requestparameters, '$.assumeRolePolicyDocument')),
      '\s+', ' ', 'g') AS document
  FROM cloudtrail
  WHERE eventtime >= $since AND eventtime < $until
    AND eventsource = 'iam.amazonaws.com'
    AND eventname IN ('UpdateAssumeRolePolicy', 'CreateRole')
),
-- Every account ID the document names: mark each one (after "arn:aws:iam::" or as a bare
-- "123456789012" string) with a § and split on it.
named_accounts AS (
  SELECT t.eventid, substr(p.part, 1, 12) AS account_id
  FROM trust t
  CROSS JOIN UNNEST(string_to_array(
    regexp_replace(
      regexp_replace(t.document, 'arn:aws[a-z-]*:iam::', '§', 'g'),
      '"([0-9]{12})"', '"§${1}"', 'g'),
    '§')) AS p (part)
  WHERE regexp_like(p.part, '^[0-9]{12}')
),
outside AS (
  SELECT t.eventid, array_join(array_sort(array_agg(DISTINCT n.account_id)), ', ') AS accounts
  FROM trust t
  JOIN named_accounts n ON n.eventid = t.eventid
  WHERE n.account_id <> t.recipientaccountid
  GROUP BY t.eventid
)
SELECT
  t.eventtime AS event_time,
  t.principal,
  t.recipientaccountid AS account,
  t.eventname AS event_name,
  t.role_name,
  regexp_like(t.document, '"Principal" ?: ?"\*"|"AWS" ?: ?"\*"|"AWS" ?: ?\[[^\]]*"\*"') AS trusts_any_principal,
  o.accounts AS outside_accounts,
  t.document AS trust_policy,
  t.errorcode AS error_code,
  t.sourceipaddress AS source_ip,
  t.eventid AS event_id
FROM trust t
LEFT JOIN outside o ON o.eventid = t.eventid
ORDER BY event_time, event_id
