#!/usr/bin/env python3
"""Writes COUNT pre-signed single-send webhook requests for `run.sh wrk`, one a line:
timestamp, signature and body separated by tabs. Each body is unique (a counter in the
recipient and the text) and signed as the API documents (HMAC-SHA256 of "timestamp.body"
with the association's secret, hex), so each passes replay protection exactly once.

    presign.py SECRET ASSOCIATION_ID COUNT OUT_FILE
"""
import hashlib, hmac, sys, time

secret, association, count, out = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
key = hmac.new(secret, digestmod=hashlib.sha256)
with open(out, "w") as f:
    for n in range(count):
        # Valid Saudi mobile numbers that never end in 0000, as `jood loadgen` sends.
        body = '{"associationId":%d,"recipient":"+96650%06d%d","message":"Your code is %d"}' % (association, n % 1000000, 1 + n % 9, n)
        ts = str(int(time.time() * 1000))
        m = key.copy()
        m.update(ts.encode() + b"." + body.encode())
        f.write("%s\t%s\t%s\n" % (ts, m.hexdigest(), body))
