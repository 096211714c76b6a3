-- id: security-group-opened-to-world
-- title: Security group opened to the internet
-- severity: high
-- kind: detection
-- description: Successful AuthorizeSecurityGroupIngress calls that allow 0.0.0.0/0 (cidrIp) or ::/0 (cidrIpv6): one row per such permission of the request (ipPermissions items, or the older flat request form), with its protocol and ports. The group is named by ID, or by name in old default-VPC requests. Egress rules, private ranges, prefix lists and security-group sources are not matched.
-- references: AWS Security Hub EC2.18, EC2.19, EC2.53, EC2.54; CIS AWS Foundations Benchmark v3.0.0 5.2 and 5.3; MITRE ATT&CK T1562.007; Stratus Red Team aws.exfiltration.ec2-security-group-open-port-22-ingress
-- params: none
-- test-params: none
WITH ingress AS (
  SELECT
    eventtime,
    eventid,
    coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
    coalesce(recipientaccountid, useridentity.accountid) AS account,
    awsregion,
    sourceipaddress,
    coalesce(
      json_extract_scalar(requestparameters, '$.groupId'),
      json_extract_scalar(requestparameters, '$.groupName')) AS security_group,
    requestparameters,
    json_extract(requestparameters, '$.ipPermissions.items') AS items,
    json_array_length(json_extract(requestparameters, '$.ipPermissions.items')) AS n
  FROM cloudtrail
  WHERE eventtime >= $since AND eventtime < $until
    AND eventsource = 'ec2.amazonaws.com'
    AND eventname = 'AuthorizeSecurityGroupIngress'
    AND errorcode IS NULL
    AND (requestparameters LIKE '%"cidrIp":"0.0.0.0/0"%' OR requestparameters LIKE '%"cidrIpv6":"::/0"%')
),
-- One row per permission: an ipPermissions item, or the flat request itself.
permissions AS (
  SELECT
    g.*,
    p.i AS permission,
    CASE WHEN coalesce(g.n, 0) = 0 THEN g.requestparameters ELSE json_array_get(g.items, p.i) END AS perm
  FROM ingress g
  CROSS JOIN UNNEST(generate_series(0, greatest(coalesce(g.n, 0), 1) - 1)) AS p (i)
)
SELECT
  eventtime AS event_time,
  principal,
  account,
  awsregion AS region,
  security_group,
  CASE
    WHEN perm LIKE '%"cidrIp":"0.0.0.0/0"%' AND perm LIKE '%"cidrIpv6":"::/0"%' THEN '0.0.0.0/0, ::/0'
    WHEN perm LIKE '%"cidrIp":"0.0.0.0/0"%' THEN '0.0.0.0/0'
    ELSE '::/0'
  END AS open_to,
  json_extract_scalar(perm, '$.ipProtocol') AS protocol,
  json_extract_scalar(perm, '$.fromPort') AS from_port,
  json_extract_scalar(perm, '$.toPort') AS to_port,
  sourceipaddress AS source_ip,
  eventid AS event_id,
  permission
FROM permissions
WHERE perm LIKE '%"cidrIp":"0.0.0.0/0"%' OR perm LIKE '%"cidrIpv6":"::/0"%'
ORDER BY event_time, event_id, permission
