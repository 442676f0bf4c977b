"""Checks the audit log a real-client run left behind.

Run after the suites, against the same server (compat/run.sh does):

  - every request the server received appears exactly once: the number of
    request events equals coffer_http_requests_received_total, a count the
    server keeps before any processing, and no request id repeats;
  - each event's identity and result agree with its status: a 401 has no
    identity, an authenticated data-plane event names the caller's object id
    and tenant, resultType matches the status;
  - no secret leaks: the bootstrap client secret, every password and
    identity header the suites used, bearer tokens (JWTs), PEM private keys
    and long base64url runs (key material, ciphertext, plaintext) appear in
    no audit file; tokens and private keys appear nowhere in the server log.

usage: audit_check.py DATA_DIR SERVER_LOG [SECRETS_JSON ...]
"""

import glob
import json
import os
import re
import ssl
import sys
import urllib.parse
import urllib.request

data_dir, server_log = sys.argv[1], sys.argv[2]
boot = json.load(open(os.path.join(data_dir, "bootstrap.json")))
problems = []


def fail(msg):
    problems.append(msg)


# Secrets the suites handled.
secrets = {boot["clientSecret"]}
for path in sys.argv[3:]:
    if os.path.exists(path):
        world = json.load(open(path))
        for u in world.get("users", {}).values():
            secrets.add(u["password"])
        for r in world.get("resources", {}).values():
            secrets.add(r["identityHeader"])

# The independent count.
ctx = ssl.create_default_context(cafile=boot["caFile"])
host = urllib.parse.urlparse(boot["hsmUrlByAddress"]).netloc
metrics = urllib.request.urlopen(f"https://{host}/metrics", context=ctx).read().decode()
m = re.search(r"^coffer_http_requests_received_total ([0-9.e+]+)$", metrics, re.M)
if not m:
    sys.exit("audit check: /metrics has no coffer_http_requests_received_total")
received = int(float(m.group(1)))

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
LONG_B64 = re.compile(r"[A-Za-z0-9_-]{43,}")
HEX = re.compile(r"^[0-9a-f]+$")


def strings(v, path=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from strings(x, path + "." + k)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x, path)
    elif isinstance(v, str):
        yield path, v


request_ids = set()
events = 0
files = sorted(glob.glob(os.path.join(data_dir, "audit", "*", "events-*.jsonl")))
if not files:
    sys.exit("audit check: no audit files")
for f in files:
    raw = open(f).read()
    for s in secrets:
        if s and s in raw:
            fail(f"{f}: holds a secret the suites used ({s[:4]}...)")
    if JWT.search(raw):
        fail(f"{f}: holds a JWT")
    if PEM.search(raw):
        fail(f"{f}: holds a PEM private key")
    for n, line in enumerate(raw.splitlines(), 1):
        ev = json.loads(line)
        where = f"{os.path.basename(os.path.dirname(f))}/{os.path.basename(f)}:{n}"
        for path, s in strings(ev):
            if path in (".prev", ".hash") or path.startswith(".identity"):
                continue
            if path == ".requestUri":
                # Page tokens are the server's own cursor, not secrets.
                u = urllib.parse.urlparse(s)
                q = [(k, v) for k, v in urllib.parse.parse_qsl(u.query) if k != "$skiptoken"]
                s = u.path + "?" + urllib.parse.urlencode(q)
            for run in LONG_B64.findall(s):
                if not HEX.match(run):
                    fail(f"{where}: {path} holds a long base64url run ({run[:8]}...)")
        rid = ev.get("requestId")
        if not rid:
            if (ev.get("identity") or {}).get("oid") != "system":
                fail(f"{where}: an event with no request id that is not a system event")
            continue
        events += 1
        if rid in request_ids:
            fail(f"{where}: request id {rid} recorded twice")
        request_ids.add(rid)
        status, ident = ev["httpStatusCode"], ev.get("identity")
        want_result = "Success" if status < 400 else "Failure"
        if ev["resultType"] != want_result:
            fail(f"{where}: status {status} with resultType {ev['resultType']}")
        if status == 401 and ident:
            fail(f"{where}: a 401 carries an identity")
        if ev.get("pool") and status not in (401, 503) and ev["operationName"] not in ("PoolLookup",):
            if not ident or not ident.get("oid") or not ident.get("tid"):
                fail(f"{where}: authenticated data-plane event {ev['operationName']} without the caller's oid and tid")
        if status < 400 and ev["operationName"] == "Unknown":
            fail(f"{where}: a successful request with no operation name")

if events != received:
    fail(f"{events} request events in the audit log, but the server received {received} requests")

log = open(server_log).read()
if JWT.search(log):
    fail("the server log holds a JWT")
if PEM.search(log):
    fail("the server log holds a PEM private key")

if problems:
    for p in problems[:50]:
        print("audit check:", p, file=sys.stderr)
    sys.exit(f"audit check: FAIL ({len(problems)} problems)")
print(f"audit check: {events} events for {received} requests, each once; identities consistent; no secrets in {len(files)} files")
