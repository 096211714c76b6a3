-- id: kms-keys-disabled-or-scheduled-deletion
-- title: KMS keys disabled or scheduled for deletion, and whether reverted
-- severity: high
-- kind: investigation
-- description: Every DisableKey and ScheduleKeyDeletion (failed attempts included) with the key, the deletion date and waiting period, and reverted_at: the first later successful EnableKey (for a disable) or CancelKeyDeletion (for a scheduled deletion) of the same key (same account, region and key ID) within the report window. A scheduled deletion with no reverted_at destroys the key when its waiting period ends.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.7 / v1.4.0 4.7 / v3.0.0 4.7; AWS Security Hub CloudWatch.7; MITRE ATT&CK T1485
-- params: none
-- test-params: none
WITH kms AS (
  SELECT
    eventtime,
    eventid,
    eventname,
    coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
    coalesce(recipientaccountid, useridentity.accountid) AS recipientaccountid,
    awsregion,
    sourceipaddress,
    errorcode,
    coalesce(
      json_extract_scalar(responseelements, '$.pendingWindowInDays'),
      json_extract_scalar(requestparameters, '$.pendingWindowInDays')) AS pending_window_days,
    json_extract_scalar(responseelements, '$.deletionDate') AS deletion_date,
    -- the key ID, whether the request named it by ID or by ARN
    regexp_replace(json_extract_scalar(requestparameters, '$.keyId'), '^arn:[^:]+:kms:[^:]*:[0-9]*:key/', '') AS key_id
  FROM cloudtrail
  WHERE eventtime >= $since AND eventtime < $until
    AND eventsource = 'kms.amazonaws.com'
    AND eventname IN ('DisableKey', 'ScheduleKeyDeletion', 'EnableKey', 'CancelKeyDeletion')
),
changes AS (
  SELECT * FROM kms WHERE eventname IN ('DisableKey', 'ScheduleKeyDeletion')
),
reverts AS (
  SELECT c.eventid, min(r.eventtime) AS reverted_at
  FROM changes c
  JOIN kms r
    ON r.recipientaccountid = c.recipientaccountid
   AND r.awsregion = c.awsregion
   AND r.key_id = c.key_id
   AND r.eventtime > c.eventtime
   AND r.errorcode IS NULL
   AND ((c.eventname = 'DisableKey' AND r.eventname = 'EnableKey')
     OR (c.eventname = 'ScheduleKeyDeletion' AND r.eventname = 'CancelKeyDeletion'))
  GROUP BY c.eventid
)
SELECT
  c.eventtime AS event_time,
  c.principal,
  c.recipientaccountid AS account,
  c.awsregion AS region,
  c.eventname AS event_name,
  c.key_id,
  c.pending_window_days,
  c.deletion_date,
  r.reverted_at,
  c.errorcode AS error_code,
  c.sourceipaddress AS source_ip,
  c.eventid AS event_id
FROM changes c
LEFT JOIN reverts r ON r.eventid = c.eventid
ORDER BY event_time, event_id
