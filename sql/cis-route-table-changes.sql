-- id: cis-route-table-changes
-- title: Route table changes
-- severity: medium
-- kind: detection
-- description: Route tables and routes created, replaced, deleted or disassociated, as the Security Hub metric filter {($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable)}, failed calls included. That filter has no eventSource condition, so API Gateway's CreateRoute and DeleteRoute match too (event_source tells them apart); AssociateRouteTable is not in it.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.13 / v1.4.0 4.13 / v3.0.0 4.13; AWS Security Hub CloudWatch.13
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
    json_extract_scalar(requestparameters, '$.routeTableId'),
    json_extract_scalar(responseelements, '$.routeTable.routeTableId'),
    json_extract_scalar(requestparameters, '$.associationId')) AS route_table_or_association,
  json_extract_scalar(requestparameters, '$.destinationCidrBlock') AS destination,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname IN (
    'CreateRoute', 'CreateRouteTable', 'ReplaceRoute', 'ReplaceRouteTableAssociation',
    'DeleteRouteTable', 'DeleteRoute', 'DisassociateRouteTable')
ORDER BY event_time, event_id
