-- id: cis-vpc-changes
-- title: VPC changes
-- severity: medium
-- kind: detection
-- description: VPCs created, deleted or modified, peering connections and ClassicLink changes, as the CIS metric filter {($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || ($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || ($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) || ($.eventName = AttachClassicLinkVpc) || ($.eventName = DetachClassicLinkVpc) || ($.eventName = DisableVpcClassicLink) || ($.eventName = EnableVpcClassicLink)}, failed calls included. CreateDefaultVpc, subnets and endpoints are not in the published filter.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.14 / v1.4.0 4.14 / v3.0.0 4.14; AWS Security Hub CloudWatch.14
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.vpcId'),
    json_extract_scalar(responseelements, '$.vpc.vpcId')) AS vpc_id,
  coalesce(
    json_extract_scalar(requestparameters, '$.vpcPeeringConnectionId'),
    json_extract_scalar(responseelements, '$.vpcPeeringConnection.vpcPeeringConnectionId')) AS peering_connection_id,
  json_extract_scalar(requestparameters, '$.peerOwnerId') AS peer_account,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname IN (
    'CreateVpc', 'DeleteVpc', 'ModifyVpcAttribute',
    'AcceptVpcPeeringConnection', 'CreateVpcPeeringConnection', 'DeleteVpcPeeringConnection', 'RejectVpcPeeringConnection',
    'AttachClassicLinkVpc', 'DetachClassicLinkVpc', 'DisableVpcClassicLink', 'EnableVpcClassicLink')
ORDER BY event_time, event_id
