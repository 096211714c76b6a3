-- id: root-account-activity
-- title: Root user activity by day
-- severity: high
-- kind: investigation
-- description: Every event of the root user (userIdentity.type Root), including what AWS services did on its behalf (invokedBy) and service events, counted by day, account, service and event, with the source IPs and errors. cis-root-account-usage is the detection; this is the view to read after it fires. The chart shows root events per day.
-- references: CIS AWS Foundations Benchmark v1.4.0 1.7 / v3.0.0 1.7 (eliminate use of the root user); AWS Security Hub CloudWatch.1
-- params: none
-- chart: day
-- test-params: none
SELECT
  date_format(eventtime, '%Y-%m-%d') AS day,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  eventsource AS event_source,
  eventname AS event_name,
  count(*) AS events,
  count_if(errorcode IS NOT NULL OR errormessage IS NOT NULL) AS failures,
  array_join(array_sort(array_agg(DISTINCT sourceipaddress)), ', ') AS source_ips,
  min(eventtime) AS first_seen,
  max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND useridentity.type = 'Root'
GROUP BY 1, 2, 3, 4
ORDER BY day, account, event_source, event_name
