-- id: s3-bucket-made-public
-- title: S3 bucket made public
-- severity: high
-- kind: detection
-- description: Successful calls that expose S3 data to anyone: a bucket policy (PutBucketPolicy) with an Allow statement whose Principal is * or AWS * and whose Condition, if any, uses none of the keys S3 Block Public Access treats as restricting (aws:SourceIp, SourceVpc, SourceVpce, SourceArn, SourceAccount, SourceOwner, PrincipalOrgID, PrincipalAccount, PrincipalArn, userid); an ACL (PutBucketAcl) granting the AllUsers or AuthenticatedUsers group or a canned public-read, public-read-write or authenticated-read ACL; a bucket or account public access block deleted, or put with any of its four settings not true. The reason column says which.
-- references: AWS Security Hub S3.1, S3.2, S3.3, S3.8; CIS AWS Foundations Benchmark v3.0.0 2.1.4; MITRE ATT&CK T1530
-- params: none
-- test-params: none
WITH s3 AS (
  SELECT
    eventtime,
    eventid,
    eventname,
    coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
    coalesce(recipientaccountid, useridentity.accountid) AS recipientaccountid,
    awsregion,
    sourceipaddress,
    requestparameters,
    json_extract_scalar(requestparameters, '$.bucketName') AS bucket
  FROM cloudtrail
  WHERE eventtime >= $since AND eventtime < $until
    AND eventsource = 's3.amazonaws.com'
    AND errorcode IS NULL
    AND eventname IN (
      'PutBucketPolicy', 'PutBucketAcl',
      'PutBucketPublicAccessBlock', 'DeleteBucketPublicAccessBlock',
      'PutAccountPublicAccessBlock', 'DeleteAccountPublicAccessBlock')
),
-- One row per policy statement (Statement is an array, or a single object).
statements AS (
  SELECT p.eventid, CASE WHEN p.n IS NULL THEN p.statement_list ELSE json_array_get(p.statement_list, g.i) END AS statement
  FROM (
    SELECT
      eventid,
      json_extract(requestparameters, '$.bucketPolicy.Statement') AS statement_list,
      json_array_length(json_extract(requestparameters, '$.bucketPolicy.Statement')) AS n
    FROM s3
    WHERE eventname = 'PutBucketPolicy'
  ) p
  CROSS JOIN UNNEST(generate_series(0, coalesce(p.n, 1) - 1)) AS g (i)
),
public_statements AS (
  SELECT eventid, array_join(array_sort(array_agg(coalesce(json_extract_scalar(statement, '$.Sid'), '(no Sid)'))), ', ') AS sids
  FROM statements
  WHERE json_extract_scalar(statement, '$.Effect') = 'Allow'
    AND (json_extract_scalar(statement, '$.Principal') = '*'
         OR json_extract_scalar(statement, '$.Principal.AWS') = '*'
         OR json_extract(statement, '$.Principal.AWS') LIKE '%"*"%')
    AND NOT regexp_like(
      lower(coalesce(json_extract(statement, '$.Condition'), '')),
      'aws:(sourceip|sourcevpce?|sourcearn|sourceaccount|sourceowner|principalorgid|principalaccount|principalarn|userid)"')
  GROUP BY eventid
),
findings AS (
  SELECT
    s.*,
    CASE
      WHEN s.eventname = 'PutBucketPolicy' AND ps.eventid IS NOT NULL
        THEN 'policy allows any principal: ' || ps.sids
      WHEN s.eventname = 'PutBucketAcl' AND s.requestparameters LIKE '%acs.amazonaws.com/groups/global/AllUsers%'
        THEN 'ACL grants AllUsers'
      WHEN s.eventname = 'PutBucketAcl' AND s.requestparameters LIKE '%acs.amazonaws.com/groups/global/AuthenticatedUsers%'
        THEN 'ACL grants AuthenticatedUsers'
      WHEN s.eventname = 'PutBucketAcl'
           AND coalesce(json_extract_scalar(s.requestparameters, '$["x-amz-acl"]'),
                        json_extract_scalar(s.requestparameters, '$["x-amz-acl"][0]'))
               IN ('public-read', 'public-read-write', 'authenticated-read')
        THEN 'canned ACL ' || coalesce(json_extract_scalar(s.requestparameters, '$["x-amz-acl"]'),
                                       json_extract_scalar(s.requestparameters, '$["x-amz-acl"][0]'))
      WHEN s.eventname IN ('DeleteBucketPublicAccessBlock', 'DeleteAccountPublicAccessBlock')
        THEN 'public access block deleted'
      WHEN s.eventname IN ('PutBucketPublicAccessBlock', 'PutAccountPublicAccessBlock')
           AND (coalesce(json_extract_scalar(s.requestparameters, '$.PublicAccessBlockConfiguration.BlockPublicAcls'), 'false') <> 'true'
             OR coalesce(json_extract_scalar(s.requestparameters, '$.PublicAccessBlockConfiguration.IgnorePublicAcls'), 'false') <> 'true'
             OR coalesce(json_extract_scalar(s.requestparameters, '$.PublicAccessBlockConfiguration.BlockPublicPolicy'), 'false') <> 'true'
             OR coalesce(json_extract_scalar(s.requestparameters, '$.PublicAccessBlockConfiguration.RestrictPublicBuckets'), 'false') <> 'true')
        THEN 'public access block off:'
          || CASE WHEN coalesce(json_extract_scalar(s.requestparameters, '$.PublicAccessBlockConfiguration.BlockPublicAcls'), 'false') <> 'true' THEN ' BlockPublicAcls' ELSE '' END
          || CASE WHEN coalesce(json_extract_scalar(s.requestparameters, '$.PublicAccessBlockConfiguration.IgnorePublicAcls'), 'false') <> 'true' THEN ' IgnorePublicAcls' ELSE '' END
          || CASE WHEN coalesce(json_extract_scalar(s.requestparameters, '$.PublicAccessBlockConfiguration.BlockPublicPolicy'), 'false') <> 'true' THEN ' BlockPublicPolicy' ELSE '' END
          || CASE WHEN coalesce(json_extract_scalar(s.requestparameters, '$.PublicAccessBlockConfiguration.RestrictPublicBuckets'), 'false') <> 'true' THEN ' RestrictPublicBuckets' ELSE '' END
    END AS reason
  FROM s3 s
  LEFT JOIN public_statements ps ON ps.eventid = s.eventid
)
SELECT
  eventtime AS event_time,
  principal,
  recipientaccountid AS account,
  awsregion AS region,
  eventname AS event_name,
  coalesce(bucket, '(account-wide)') AS bucket,
  reason,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM findings
WHERE reason IS NOT NULL
ORDER BY event_time, event_id
