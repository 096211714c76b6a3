-- id: cis-unauthorized-api-calls
-- title: Unauthorized API calls
-- severity: low
-- kind: detection
-- description: API calls that failed for lack of permission, as the CIS metric filter {($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")}: errorCode ends with UnauthorizedOperation (EC2's Client.UnauthorizedOperation) or starts with AccessDenied (AccessDenied, AccessDeniedException). Other errors (throttling, DryRunOperation, SNS AuthorizationError) are not matched. Noisy by nature: read it with access-denied-by-principal.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.1 / v1.4.0 4.1 / v3.0.0 4.1; AWS Security Hub CloudWatch.2
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventsource AS event_source,
  eventname AS event_name,
  errorcode AS error_code,
  errormessage AS error_message,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND (errorcode LIKE '%UnauthorizedOperation' OR errorcode LIKE 'AccessDenied%')
ORDER BY event_time, event_id
