-- id: unusual-region-activity
-- title: Activity in regions an account rarely uses
-- severity: medium
-- kind: investigation
-- description: Regions that hold less than 2% of an account's events in the report window, for accounts with at least 50 events in the window (below that there is no baseline and nothing is reported). The account is the one whose trail logged the event (recipientAccountId; the caller's account on old events without it), the region is awsRegion. Attackers with stolen keys often work in regions nobody watches (crypto mining, hidden resources). The rule depends on the window: use a window of weeks, not hours.
-- references: MITRE ATT&CK T1535 (unused or unsupported cloud regions); CIS AWS Foundations Benchmark v3.0.0 3.1 (multi-region trail)
-- params: none
-- test-params: none
WITH per_region AS (
  SELECT
    coalesce(recipientaccountid, useridentity.accountid) AS account,
    awsregion AS region,
    count(*) AS events,
    count(DISTINCT coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid)) AS principals,
    array_join(array_sort(array_agg(DISTINCT coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid))), ', ') AS principal_list,
    array_join(array_sort(array_agg(DISTINCT eventname)), ', ') AS event_names,
    min(eventtime) AS first_seen,
    max(eventtime) AS last_seen
  FROM cloudtrail
  WHERE eventtime >= $since AND eventtime < $until
  GROUP BY 1, 2
),
per_account AS (
  SELECT account, sum(events) AS account_events, count(*) AS regions_used
  FROM per_region
  GROUP BY account
)
SELECT
  r.account,
  r.region,
  r.events,
  a.account_events,
  round(100.0 * r.events / a.account_events, 2) AS pct_of_account,
  a.regions_used,
  r.principal_list AS principals,
  r.event_names,
  r.first_seen,
  r.last_seen
FROM per_region r
JOIN per_account a ON a.account = r.account
WHERE a.account_events >= 50
  AND r.events * 50 < a.account_events
ORDER BY r.account, r.region
