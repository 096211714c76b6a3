-- id: cis-root-account-usage
-- title: Root user activity
-- severity: high
-- kind: detection
-- description: Any activity of the root user that an AWS service did not perform on its behalf, as the CIS metric filter {$.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent"}: userIdentity.type is Root, userIdentity.invokedBy is absent, eventType is not AwsServiceEvent (an absent eventType counts as not equal). Successful and failed calls and sign-ins alike.
-- references: CIS AWS Foundations Benchmark v1.2.0 1.1 and 3.3 / v1.4.0 1.7 and 4.3 / v3.0.0 4.3; AWS Security Hub CloudWatch.1
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  useridentity.arn AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventsource AS event_source,
  eventname AS event_name,
  eventtype AS event_type,
  sourceipaddress AS source_ip,
  useragent AS user_agent,
  errorcode AS error_code,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND useridentity.type = 'Root'
  AND useridentity.invokedby IS NULL
  AND eventtype IS DISTINCT FROM 'AwsServiceEvent'
ORDER BY event_time, event_id
