-- id: cis-security-group-changes
-- title: Security group changes
-- severity: medium
-- kind: detection
-- description: Security groups created or deleted and their rules authorized or revoked, as the CIS metric filter {($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup)}, failed calls included. Rule edits through ModifySecurityGroupRules are not in the published filter. security-group-opened-to-world picks out rules open to the internet.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.10 / v1.4.0 4.10 / v3.0.0 4.10; AWS Security Hub CloudWatch.10
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.groupId'),
    json_extract_scalar(responseelements, '$.groupId')) AS group_id,
  json_extract_scalar(requestparameters, '$.groupName') AS group_name,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname IN (
    'AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress',
    'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress',
    'CreateSecurityGroup', 'DeleteSecurityGroup')
ORDER BY event_time, event_id
