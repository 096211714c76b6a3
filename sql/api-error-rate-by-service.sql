-- id: api-error-rate-by-service
-- title: API error rate by service and day
-- severity: info
-- kind: investigation
-- description: Per day and service (eventSource), API calls (eventType AwsApiCall; console sign-ins and service events are left out), how many failed (any errorCode), the error percentage and the error codes seen. A jump in errors for one service often means broken automation, or someone probing permissions. The chart shows errors per day.
-- references: MITRE ATT&CK T1580 (cloud infrastructure discovery)
-- params: none
-- chart: day
-- test-params: none
SELECT
  date_format(eventtime, '%Y-%m-%d') AS day,
  eventsource AS event_source,
  count_if(errorcode IS NOT NULL) AS errors,
  count(*) AS calls,
  round(100.0 * count_if(errorcode IS NOT NULL) / count(*), 2) AS error_pct,
  array_join(array_sort(array_agg(DISTINCT errorcode)), ', ') AS error_codes
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventtype = 'AwsApiCall'
GROUP BY 1, 2
ORDER BY day, event_source
