-- id: cis-iam-policy-changes
-- title: IAM policy changes
-- severity: medium
-- kind: detection
-- description: Calls that create, change, attach or detach IAM policies: the 16 event names of the CIS metric filter (DeleteGroupPolicy, DeleteRolePolicy, DeleteUserPolicy, PutGroupPolicy, PutRolePolicy, PutUserPolicy, CreatePolicy, DeletePolicy, CreatePolicyVersion, DeletePolicyVersion, AttachRolePolicy, DetachRolePolicy, AttachUserPolicy, DetachUserPolicy, AttachGroupPolicy, DetachGroupPolicy), failed calls included. Like the published filter there is no eventSource condition, so same-named calls of other services (iot CreatePolicy, organizations DeletePolicy...) match too; event_source tells them apart. Trust policies (UpdateAssumeRolePolicy), SetDefaultPolicyVersion and permissions boundaries are not in the filter.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.4 / v1.4.0 4.4 / v3.0.0 4.4; AWS Security Hub CloudWatch.4
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventsource AS event_source,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.userName'),
    json_extract_scalar(requestparameters, '$.roleName'),
    json_extract_scalar(requestparameters, '$.groupName')) AS identity_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.policyArn'),
    json_extract_scalar(requestparameters, '$.policyName')) AS policy,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname IN (
    'DeleteGroupPolicy', 'DeleteRolePolicy', 'DeleteUserPolicy',
    'PutGroupPolicy', 'PutRolePolicy', 'PutUserPolicy',
    'CreatePolicy', 'DeletePolicy', 'CreatePolicyVersion', 'DeletePolicyVersion',
    'AttachRolePolicy', 'DetachRolePolicy', 'AttachUserPolicy', 'DetachUserPolicy',
    'AttachGroupPolicy', 'DetachGroupPolicy')
ORDER BY event_time, event_id
