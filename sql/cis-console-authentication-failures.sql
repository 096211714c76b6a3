-- id: cis-console-authentication-failures
-- title: Console authentication failures
-- severity: low
-- kind: detection
-- description: Console sign-ins that failed with the message Failed authentication (a wrong password, or MFA code, for an existing IAM or root user), as the CIS metric filter {($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication")}. Sign-ins with an unknown user name fail with another message (No username found in supplied account) and are not matched: see console-logins for every failure.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.6 / v1.4.0 4.6 / v3.0.0 4.6; AWS Security Hub CloudWatch.6
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.username, useridentity.principalid) AS principal,
  useridentity.type AS principal_type,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  sourceipaddress AS source_ip,
  useragent AS user_agent,
  errormessage AS error_message,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname = 'ConsoleLogin'
  AND errormessage = 'Failed authentication'
ORDER BY event_time, event_id
