-- id: cis-network-gateway-changes
-- title: Network gateway changes
-- severity: medium
-- kind: detection
-- description: Customer and internet gateways created, deleted, attached or detached, as the CIS metric filter {($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || ($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || ($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway)}, failed calls included. NAT, transit and VPN gateways are not in the published filter.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.12 / v1.4.0 4.12 / v3.0.0 4.12; AWS Security Hub CloudWatch.12
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.internetGatewayId'),
    json_extract_scalar(responseelements, '$.internetGateway.internetGatewayId'),
    json_extract_scalar(requestparameters, '$.customerGatewayId'),
    json_extract_scalar(responseelements, '$.customerGateway.customerGatewayId')) AS gateway_id,
  json_extract_scalar(requestparameters, '$.vpcId') AS vpc_id,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname IN (
    'CreateCustomerGateway', 'DeleteCustomerGateway', 'AttachInternetGateway',
    'CreateInternetGateway', 'DeleteInternetGateway', 'DetachInternetGateway')
ORDER BY event_time, event_id
