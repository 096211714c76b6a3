-- id: cis-console-login-without-mfa
-- title: Console sign-in without MFA
-- severity: medium
-- kind: detection
-- description: Successful ConsoleLogin by an IAM user whose additionalEventData.MFAUsed is not Yes (missing counts as not Yes), as the metric filter {($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success")}. Federated (SSO, SAML) sign-ins are AssumedRole and MFA is enforced by the identity provider; root sign-ins are covered by cis-root-account-usage.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.2 / v1.4.0 4.2 / v3.0.0 4.2; AWS Security Hub CloudWatch.3
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  useridentity.arn AS principal,
  useridentity.username AS user_name,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  sourceipaddress AS source_ip,
  useragent AS user_agent,
  json_extract_scalar(additionaleventdata, '$.MFAUsed') AS mfa_used,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname = 'ConsoleLogin'
  AND coalesce(json_extract_scalar(additionaleventdata, '$.MFAUsed'), '') <> 'Yes'
  AND useridentity.type = 'IAMUser'
  AND json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success'
ORDER BY event_time, event_id
