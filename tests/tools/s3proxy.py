#!/usr/bin/env python3
"""An HTTP/1.1 proxy in front of an S3-compatible server on loopback, for tests and
benchmarks: it delays each request by a fixed time (a round trip to a distant region, since
this loopback has no netem) and logs each request as one JSON line: method, bucket, key,
query, the access key id of its SigV4 signature (never the signature or a secret), the
SSE headers, and the status and body sizes. The log is what the server saw.

usage: s3proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS LOG_FILE
"""
import asyncio
import json
import re
import sys
import urllib.parse

LISTEN, UPSTREAM, DELAY, LOG = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000, sys.argv[4]
log = open(LOG, "a", buffering=1)
CRED = re.compile(r"Credential=([^/,\s]+)/")


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return head, lines[0], headers


async def read_body(reader, headers, no_body=False):
    """The body as raw bytes (chunked framing kept) and its payload length."""
    if no_body:
        return b"", 0
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw, size = b"", 0
        while True:
            line = await reader.readuntil(b"\r\n")
            n = int(line.split(b";")[0], 16)
            data = await reader.readexactly(n + 2)
            raw += line + data
            size += n
            if n == 0:
                # trailers end with an empty line; we sent the one after "0"
                return raw, size
    n = int(headers.get("content-length", "0"))
    return (await reader.readexactly(n)) if n else b"", n


async def handle(creader, cwriter):
    ureader, uwriter = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    try:
        while True:
            try:
                head, request_line, headers = await read_head(creader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            body, sent = await read_body(creader, headers)
            await asyncio.sleep(DELAY)
            uwriter.write(head + body)
            await uwriter.drain()
            rhead, status_line, rheaders = await read_head(ureader)
            method, target = request_line.split(" ")[:2]
            status = int(status_line.split(" ")[1])
            no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
            rbody, received = await read_body(ureader, rheaders, no_body)
            cwriter.write(rhead + rbody)
            await cwriter.drain()
            url = urllib.parse.urlsplit(target)
            path = urllib.parse.unquote(url.path).lstrip("/")
            bucket, _, key = path.partition("/")
            auth = headers.get("authorization", "")
            m = CRED.search(auth)
            log.write(json.dumps({
                "method": method, "bucket": bucket, "key": key, "query": url.query,
                "access_key_id": m.group(1) if m else None,
                "sse": headers.get("x-amz-server-side-encryption"),
                "sse_kms_key_id": headers.get("x-amz-server-side-encryption-aws-kms-key-id"),
                "status": status, "sent": sent, "received": received,
                "action": (urllib.parse.parse_qs(body.decode("latin-1")).get("Action") or [None])[0]
                    if method == "POST" and bucket == "" else None,
            }) + "\n")
            if headers.get("connection", "").lower() == "close":
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        uwriter.close()
        cwriter.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN, backlog=1024, limit=1 << 20)
    async with server:
        await server.serve_forever()


asyncio.run(main())
