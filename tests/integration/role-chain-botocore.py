#!/usr/bin/env python3
"""Resolves the credentials of profile argv[1] with botocore, offline, and
prints each STS call its chain makes as "ACTION ROLE-ARN SIGNER" lines,
SIGNER being the access key that signed it, "issued" for the key the
previous call issued, or "-" for an unsigned call.

A before-send hook answers every STS call here with made-up credentials
(nothing is resolved or sent).  AWS_CONFIG_FILE and the rest come from the
environment.  Exit 77 (skip) without botocore."""
import re
import sys

try:
    import botocore.awsrequest
    import botocore.session
except ImportError:
    sys.exit(77)

issued = []


class Raw:
    def __init__(self, body):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def answer(request, **kwargs):
    body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
    params = dict(p.split("=", 1) for p in body.split("&") if "=" in p)
    action = params.get("Action", "?")
    role = params.get("RoleArn", "-").replace("%3A", ":").replace("%2F", "/")
    auth = request.headers.get("Authorization", b"")
    auth = auth.decode() if isinstance(auth, bytes) else auth
    m = re.search(r"Credential=([^/]+)/", auth)
    signer = m.group(1) if m else "-"
    if issued and signer == issued[-1]:
        signer = "issued"
    print(action, role, signer, flush=True)
    key = "ASIABOTOCORE%04d" % (len(issued) + 1)
    issued.append(key)
    xml = (
        f"<{action}Response><{action}Result><Credentials><AccessKeyId>{key}</AccessKeyId>"
        "<SecretAccessKey>made-up</SecretAccessKey><SessionToken>made-up</SessionToken>"
        "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
        "<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/r/s</Arn>"
        "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>"
        f"</{action}Result></{action}Response>"
    ).encode()
    return botocore.awsrequest.AWSResponse(request.url, 200, {}, Raw(xml))


session = botocore.session.Session(profile=sys.argv[1])
session.register("before-send.sts", answer)
credentials = session.get_credentials()
if credentials is None:
    print("no credentials", file=sys.stderr)
    sys.exit(1)
credentials.get_frozen_credentials()
