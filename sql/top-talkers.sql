-- id: top-talkers
-- title: Top talkers: principals by API calls
-- severity: info
-- kind: investigation
-- description: The 25 principals (identity ARN; the service name for AWS services) with the most API calls (eventType AwsApiCall) in the window, with their errors, distinct event names, source IPs, regions and first and last call. Ties are broken by principal. Console sign-ins and service events are not API calls and are not counted.
-- references: MITRE ATT&CK T1078.004 (valid cloud accounts)
-- params: none
-- test-params: none
SELECT
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  useridentity.type AS principal_type,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  count(*) AS calls,
  count_if(errorcode IS NOT NULL) AS errors,
  count(DISTINCT eventname) AS distinct_events,
  count(DISTINCT sourceipaddress) AS source_ips,
  array_join(array_sort(array_agg(DISTINCT awsregion)), ', ') AS regions,
  min(eventtime) AS first_seen,
  max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventtype = 'AwsApiCall'
GROUP BY 1, 2, 3
ORDER BY calls DESC, principal, principal_type, account
LIMIT 25
