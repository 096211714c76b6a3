-- id: console-logins
-- title: Console sign-ins by user and source IP
-- severity: info
-- kind: investigation
-- description: ConsoleLogin events per user (IAM user, root, federated role session, or the user name typed for a failure) and source IP: successes with and without MFA (MFAUsed), failures of any kind (a wrong password, an unknown user name), first and last time seen. Many failures from one address, or a success from an address seen nowhere else, deserve a look.
-- references: CIS AWS Foundations Benchmark v1.4.0 4.2 and 4.6; AWS Security Hub CloudWatch.3 and CloudWatch.6; MITRE ATT&CK T1078.004, T1110
-- params: none
-- test-params: none
SELECT
  coalesce(useridentity.arn, useridentity.username, useridentity.principalid) AS principal,
  useridentity.type AS principal_type,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  sourceipaddress AS source_ip,
  count_if(json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success') AS successes,
  count_if(json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success'
           AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'Yes') AS successes_with_mfa,
  count_if(coalesce(json_extract_scalar(responseelements, '$.ConsoleLogin'), '') <> 'Success') AS failures,
  array_join(array_sort(array_agg(DISTINCT errormessage)), ', ') AS failure_messages,
  min(eventtime) AS first_seen,
  max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventname = 'ConsoleLogin'
GROUP BY 1, 2, 3, 4
ORDER BY principal, principal_type, account, source_ip
