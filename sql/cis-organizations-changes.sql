-- id: cis-organizations-changes
-- title: AWS Organizations changes
-- severity: high
-- kind: detection
-- description: Changes to the organization: accounts created, invited, moved, removed or leaving, organizational units, handshakes, policies (SCPs) and policy types, as the CIS metric filter {($.eventSource = organizations.amazonaws.com) && (($.eventName = AcceptHandshake) || ($.eventName = AttachPolicy) || ($.eventName = CreateAccount) || ($.eventName = CreateOrganizationalUnit) || ($.eventName = CreatePolicy) || ($.eventName = DeclineHandshake) || ($.eventName = DeleteOrganization) || ($.eventName = DeleteOrganizationalUnit) || ($.eventName = DeletePolicy) || ($.eventName = DetachPolicy) || ($.eventName = DisablePolicyType) || ($.eventName = EnablePolicyType) || ($.eventName = InviteAccountToOrganization) || ($.eventName = LeaveOrganization) || ($.eventName = MoveAccount) || ($.eventName = RemoveAccountFromOrganization) || ($.eventName = UpdatePolicy) || ($.eventName = UpdateOrganizationalUnit))}, failed calls included.
-- references: CIS AWS Foundations Benchmark v1.4.0 4.15 / v3.0.0 4.15
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.policyId'),
    json_extract_scalar(requestparameters, '$.accountId'),
    json_extract_scalar(requestparameters, '$.accountName'),
    json_extract_scalar(requestparameters, '$.target.id'),
    json_extract_scalar(requestparameters, '$.organizationalUnitId'),
    json_extract_scalar(requestparameters, '$.name')) AS subject,
  json_extract_scalar(requestparameters, '$.targetId') AS target,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventsource = 'organizations.amazonaws.com'
  AND eventname IN (
    'AcceptHandshake', 'AttachPolicy', 'CreateAccount', 'CreateOrganizationalUnit', 'CreatePolicy',
    'DeclineHandshake', 'DeleteOrganization', 'DeleteOrganizationalUnit', 'DeletePolicy', 'DetachPolicy',
    'DisablePolicyType', 'EnablePolicyType', 'InviteAccountToOrganization', 'LeaveOrganization',
    'MoveAccount', 'RemoveAccountFromOrganization', 'UpdatePolicy', 'UpdateOrganizationalUnit')
ORDER BY event_time, event_id
