-- id: access-denied-by-principal
-- title: Access denied by principal and day
-- severity: low
-- kind: investigation
-- description: Calls refused for lack of permission (errorCode ending with UnauthorizedOperation or starting with AccessDenied, as cis-unauthorized-api-calls) per day and principal: how many, which actions, which error codes. A principal suddenly denied many distinct actions is often enumerating its permissions with stolen credentials. The chart shows denied calls per day.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.1 / v1.4.0 4.1; AWS Security Hub CloudWatch.2; MITRE ATT&CK T1580, T1087.004
-- params: none
-- chart: day
-- test-params: none
SELECT
  date_format(eventtime, '%Y-%m-%d') AS day,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  useridentity.type AS principal_type,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  count(*) AS denied_calls,
  count(DISTINCT eventsource || ':' || eventname) AS distinct_actions,
  array_join(array_sort(array_agg(DISTINCT replace(eventsource, '.amazonaws.com', '') || ':' || eventname)), ', ') AS actions,
  array_join(array_sort(array_agg(DISTINCT errorcode)), ', ') AS error_codes,
  min(eventtime) AS first_seen,
  max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND (errorcode LIKE '%UnauthorizedOperation' OR errorcode LIKE 'AccessDenied%')
GROUP BY 1, 2, 3, 4
ORDER BY day, denied_calls DESC, principal, principal_type, account
