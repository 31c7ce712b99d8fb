#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fake-creds: the AWS credential endpoints kmscanceld fetches from, on loopback.

One process, two ports:
  plain HTTP (--port-file):  EC2 IMDSv2 (/latest/...), the container
                             credentials endpoint (/container/credentials)
                             and the admin API (/_admin/...)
  HTTPS (--sts-port-file):   STS AssumeRoleWithWebIdentity (POST /, Query
                             protocol, XML answers), certificate from
                             tests/fakes/mkcerts.sh

Every credential answer hands out --access-key / --secret / --session-token
expiring --expires-in seconds from now, so a test can point fake-kms at the
same pair.  See tests/fakes/README.md for the admin API.
"""
import argparse
import datetime
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

ROLE = "kmscancel-test-role"
TARGETS = ("imds-token", "imds-role", "imds-credentials", "container", "sts")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.akid = args.access_key
        self.secret = args.secret
        self.token = args.session_token
        self.expires_in = args.expires_in
        self.web_identity_token = args.web_identity_token
        self.container_auth = args.container_auth
        self.imds_tokens = set()
        self.faults = {}  # target -> [kind, count (-1 forever)]
        self.stats = {t: 0 for t in TARGETS}
        self.delay_ms = {t: 0 for t in TARGETS}
        self.log = []

    def take_fault(self, target):
        with self.lock:
            self.stats[target] += 1
            f = self.faults.get(target)
            if not f:
                return None
            kind, count = f
            if count > 0:
                f[1] -= 1
                if f[1] == 0:
                    del self.faults[target]
            return kind

    def expiration(self):
        t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.expires_in)
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-creds"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake-creds: " + (fmt % args) + "\n")

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # A fault replaces the answer: "500", "404", "403", "bad-json" (a
    # truncated body), "missing" (no SecretAccessKey), "timeout" (hold the
    # answer 5 s), "drop" (close without answering).
    def fault(self, target, ok_status_body=None):
        st = self.server.state
        delay = st.delay_ms.get(target, 0)
        if delay:
            time.sleep(delay / 1000.0)
        kind = st.take_fault(target)
        if kind is None:
            return None
        if kind == "timeout":
            time.sleep(5)
            return "done"
        if kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return "done"
        if kind in ("500", "404", "403", "405", "400"):
            self.reply(int(kind), '{"code":"Fault","message":"injected %s"}' % kind)
            return "done"
        return kind  # answer-shaping faults: bad-json, missing

    def creds_json(self, token_member, kind, extra=None):
        st = self.server.state
        if kind == "bad-json":
            return '{"AccessKeyId": "%s", "SecretAcc' % st.akid
        d = {"AccessKeyId": st.akid, "SecretAccessKey": st.secret, token_member: st.token,
             "Expiration": st.expiration()}
        if extra:
            d.update(extra)
        if kind == "missing":
            del d["SecretAccessKey"]
        return json.dumps(d)

    def do_PUT(self):
        self.body()
        if self.path == "/latest/api/token":
            if self.fault("imds-token"):
                return
            if "X-aws-ec2-metadata-token-ttl-seconds" not in self.headers:
                return self.reply(400, "missing TTL")
            st = self.server.state
            with st.lock:
                tok = "IMDS-SESSION-%d" % (len(st.imds_tokens) + 1)
                st.imds_tokens.add(tok)
            return self.reply(200, tok)
        self.reply(404, "not found")

    def imds_token_ok(self):
        return self.headers.get("X-aws-ec2-metadata-token") in self.server.state.imds_tokens

    def do_GET(self):
        st = self.server.state
        prefix = "/latest/meta-data/iam/security-credentials/"
        if self.path == prefix:
            kind = self.fault("imds-role")
            if kind == "done":
                return
            if not self.imds_token_ok():
                return self.reply(401, "")
            return self.reply(200, ROLE if kind is None else "not a role name!")
        if self.path == prefix + ROLE:
            kind = self.fault("imds-credentials")
            if kind == "done":
                return
            if not self.imds_token_ok():
                return self.reply(401, "")
            return self.reply(200, self.creds_json("Token", kind,
                                                   {"Code": "Success", "Type": "AWS-HMAC",
                                                    "LastUpdated": "2024-01-01T00:00:00Z"}))
        if self.path.startswith("/container/credentials"):
            kind = self.fault("container")
            if kind == "done":
                return
            if st.container_auth and self.headers.get("Authorization") != st.container_auth:
                return self.reply(401, '{"code":"Unauthorized","message":"bad token"}', "application/json")
            return self.reply(200, self.creds_json("Token", kind, {"RoleArn": "arn:aws:iam::111122223333:role/x"}),
                              "application/json")
        if self.path == "/_admin/stats":
            with st.lock:
                return self.reply(200, json.dumps(st.stats), "application/json")
        self.reply(404, "not found")

    def do_POST(self):
        st = self.server.state
        raw = self.body()
        if self.server.is_sts:
            return self.sts(raw)
        if not self.path.startswith("/_admin/"):
            return self.reply(404, "not found")
        try:
            d = json.loads(raw or b"{}")
        except ValueError:
            return self.reply(400, "bad json")
        with st.lock:
            if self.path == "/_admin/fault":
                if d.get("target") not in TARGETS:
                    return self.reply(400, "bad target")
                st.faults[d["target"]] = [d.get("kind", "500"), int(d.get("count", -1))]
            elif self.path == "/_admin/delay":
                st.delay_ms[d["target"]] = int(d.get("ms", 0))
            elif self.path == "/_admin/reset":
                st.faults.clear()
                st.delay_ms = {t: 0 for t in TARGETS}
                st.stats = {t: 0 for t in TARGETS}
            elif self.path == "/_admin/config":
                st.expires_in = int(d.get("expiresIn", st.expires_in))
                st.akid = d.get("accessKeyId", st.akid)
                st.secret = d.get("secretAccessKey", st.secret)
                st.token = d.get("sessionToken", st.token)
            else:
                return self.reply(404, "not found")
        self.reply(200, "{}", "application/json")

    def sts_error(self, status, code, message):
        self.reply(status, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
                   "<Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
                   "<RequestId>fake-request-id</RequestId></ErrorResponse>" % (code, message), "text/xml")

    def sts(self, raw):
        st = self.server.state
        kind = self.fault("sts")
        if kind == "done":
            return
        form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True)
        get = lambda k: (form.get(k) or [None])[0]
        if self.path != "/" or not (self.headers.get("Content-Type") or "").startswith(
                "application/x-www-form-urlencoded"):
            return self.sts_error(400, "InvalidAction", "bad request")
        if get("Action") != "AssumeRoleWithWebIdentity" or get("Version") != "2011-06-15":
            return self.sts_error(400, "InvalidAction", "unknown action")
        if not get("RoleArn") or not get("RoleSessionName"):
            return self.sts_error(400, "ValidationError", "missing RoleArn or RoleSessionName")
        if get("WebIdentityToken") != st.web_identity_token:
            return self.sts_error(400, "InvalidIdentityToken", "The web identity token is not valid")
        if kind == "bad-json":
            return self.reply(200, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWith", "text/xml")
        secret = "" if kind == "missing" else "<SecretAccessKey>%s</SecretAccessKey>" % st.secret
        self.reply(200, (
            "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
            "<AssumeRoleWithWebIdentityResult>"
            "<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/r/%s</Arn>"
            "<AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>"
            "<Credentials><AccessKeyId>%s</AccessKeyId>%s<SessionToken>%s</SessionToken>"
            "<Expiration>%s</Expiration></Credentials>"
            "</AssumeRoleWithWebIdentityResult>"
            "<ResponseMetadata><RequestId>fake-request-id</RequestId></ResponseMetadata>"
            "</AssumeRoleWithWebIdentityResponse>") % (get("RoleSessionName"), st.akid, secret, st.token,
                                                       st.expiration()), "text/xml")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--sts-port-file")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--access-key", default="AKIDEXAMPLE")
    p.add_argument("--secret", default="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    p.add_argument("--session-token", default="FAKE-SESSION-TOKEN")
    p.add_argument("--expires-in", type=int, default=3600)
    p.add_argument("--web-identity-token", default="FAKE-WEB-IDENTITY-TOKEN")
    p.add_argument("--container-auth")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    state = State(args)

    servers = []
    plain = Server(("127.0.0.1", 0), Handler)
    plain.state, plain.verbose, plain.is_sts = state, args.verbose, False
    servers.append(plain)
    if args.sts_port_file:
        sts = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.cert, args.key)
        sts.socket = ctx.wrap_socket(sts.socket, server_side=True)
        sts.state, sts.verbose, sts.is_sts = state, args.verbose, True
        servers.append(sts)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    if args.sts_port_file:
        write_port(args.sts_port_file, servers[1].server_address[1])
    write_port(args.port_file, plain.server_address[1])
    try:
        plain.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
