-- id: cis-nacl-changes
-- title: Network ACL changes
-- severity: medium
-- kind: detection
-- description: Network ACLs and their entries and associations created, replaced or deleted, as the CIS metric filter {($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || ($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || ($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation)}, failed calls included.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.11 / v1.4.0 4.11 / v3.0.0 4.11; AWS Security Hub CloudWatch.11
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.networkAclId'),
    json_extract_scalar(responseelements, '$.networkAcl.networkAclId')) AS network_acl_id,
  json_extract_scalar(requestparameters, '$.ruleNumber') AS rule_number,
  json_extract_scalar(requestparameters, '$.ruleAction') AS rule_action,
  json_extract_scalar(requestparameters, '$.cidrBlock') AS cidr_block,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname IN (
    'CreateNetworkAcl', 'CreateNetworkAclEntry', 'DeleteNetworkAcl', 'DeleteNetworkAclEntry',
    'ReplaceNetworkAclEntry', 'ReplaceNetworkAclAssociation')
ORDER BY event_time, event_id
