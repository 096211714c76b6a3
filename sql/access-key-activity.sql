-- id: access-key-activity
-- title: Everything one access key did
-- severity: info
-- kind: investigation
-- description: Every event signed with the given access key ID (userIdentity.accessKeyId): long-term AKIA keys and temporary ASIA session keys alike, all services and regions, successes and failures, oldest first. Events that merely mention the key (its creation, UpdateAccessKey) are not included, nor what session credentials obtained with it did: follow those with their own ASIA key ID.
-- references: AWS Security Incident Response Guide (compromised credentials); MITRE ATT&CK T1078.004
-- params: access_key_id: the access key ID, e.g. AKIAIOSFODNN7EXAMPLE
-- test-params: access_key_id=AKIADS67GGIRSBD2KYN7
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventsource AS event_source,
  eventname AS event_name,
  readonly AS read_only,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  useragent AS user_agent,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND useridentity.accesskeyid = $access_key_id
ORDER BY event_time, event_id
