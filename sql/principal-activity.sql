-- id: principal-activity
-- title: Everything one principal did
-- severity: info
-- kind: investigation
-- description: Every event whose identity ARN (userIdentity.arn) or session issuer ARN (userIdentity.sessionContext.sessionIssuer.arn) is the given ARN, oldest first. Give an IAM user ARN to get the user's own calls and those of the federation sessions it issued (GetFederationToken); a role ARN to get all sessions of the role; an assumed-role session ARN (arn:aws:sts::...:assumed-role/ROLE/SESSION) to get that session only.
-- references: AWS Security Incident Response Guide; MITRE ATT&CK T1078.004
-- params: principal: an IAM user, role or session ARN, e.g. arn:aws:iam::111122223333:user/alice
-- test-params: principal=arn:aws:iam::111122223333:user/alice
SELECT
  eventtime AS event_time,
  useridentity.arn AS principal,
  useridentity.sessioncontext.sessionissuer.arn AS session_issuer,
  useridentity.accesskeyid AS access_key_id,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventsource AS event_source,
  eventname AS event_name,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND (useridentity.arn = $principal OR useridentity.sessioncontext.sessionissuer.arn = $principal)
ORDER BY event_time, event_id
