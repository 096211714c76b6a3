-- id: cis-s3-bucket-policy-changes
-- title: S3 bucket policy changes
-- severity: medium
-- kind: detection
-- description: Changes to S3 bucket policies, ACLs, CORS, lifecycle and replication, as the CIS metric filter {($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || ($.eventName = PutBucketPolicy) || ($.eventName = PutBucketCors) || ($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || ($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || ($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication))}, failed calls included. Public access block changes are not in the filter: see s3-bucket-made-public.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.8 / v1.4.0 4.8 / v3.0.0 4.8; AWS Security Hub CloudWatch.8
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  json_extract_scalar(requestparameters, '$.bucketName') AS bucket,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventsource = 's3.amazonaws.com'
  AND eventname IN (
    'PutBucketAcl', 'PutBucketPolicy', 'PutBucketCors', 'PutBucketLifecycle', 'PutBucketReplication',
    'DeleteBucketPolicy', 'DeleteBucketCors', 'DeleteBucketLifecycle', 'DeleteBucketReplication')
ORDER BY event_time, event_id
