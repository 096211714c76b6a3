-- id: cis-aws-config-changes
-- title: AWS Config configuration changes
-- severity: high
-- kind: detection
-- description: The AWS Config recorder stopped or changed and delivery channels changed or deleted, as the CIS metric filter {($.eventSource = config.amazonaws.com) && (($.eventName = StopConfigurationRecorder) || ($.eventName = DeleteDeliveryChannel) || ($.eventName = PutDeliveryChannel) || ($.eventName = PutConfigurationRecorder))}, failed calls included. DeleteConfigurationRecorder is not in the published filter: security-services-disabled covers it.
-- references: CIS AWS Foundations Benchmark v1.2.0 3.9 / v1.4.0 4.9 / v3.0.0 4.9; AWS Security Hub CloudWatch.9
-- params: none
-- test-params: none
SELECT
  eventtime AS event_time,
  coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
  coalesce(recipientaccountid, useridentity.accountid) AS account,
  awsregion AS region,
  eventname AS event_name,
  coalesce(
    json_extract_scalar(requestparameters, '$.configurationRecorderName'),
    json_extract_scalar(requestparameters, '$.configurationRecorder.name'),
    json_extract_scalar(requestparameters, '$.deliveryChannelName'),
    json_extract_scalar(requestparameters, '$.deliveryChannel.name')) AS recorder_or_channel,
  errorcode AS error_code,
  sourceipaddress AS source_ip,
  eventid AS event_id
FROM cloudtrail
WHERE eventtime >= $since AND eventtime < $until
  AND eventsource = 'config.amazonaws.com'
  AND eventname IN ('StopConfigurationRecorder', 'DeleteDeliveryChannel', 'PutDeliveryChannel', 'PutConfigurationRecorder')
ORDER BY event_time, event_id
