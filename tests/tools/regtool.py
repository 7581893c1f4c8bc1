#!/usr/bin/env python3
"""Registry helpers for tests/e2e/registry.sh.

  regtool.py port                         a free TCP port on 127.0.0.1
  regtool.py bcrypt PASSWORD              a bcrypt hash (an htpasswd line's)
  regtool.py proxy PORT UPSTREAM RATE     forwards 127.0.0.1:PORT to
                                          127.0.0.1:UPSTREAM, at most RATE
                                          bytes/s towards the client
  regtool.py token PORT KEY CERT ISSUER SERVICE USER:PASSWORD
                                          a token server for docker-registry's
                                          token auth: Basic USER:PASSWORD in,
                                          an RS256 JWT (x5c: CERT) granting the
                                          asked scope out
  regtool.py liar PORT LAYOUT TAG         a registry that lies about the artifact
                                          TAG of the OCI layout LAYOUT, one way
                                          per repository name (see LIES)
"""
import warnings
warnings.filterwarnings("ignore", category=DeprecationWarning)  # crypt, in 3.11+
import base64
import crypt  # noqa: E402
import hashlib
import http.server
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def proxy(lport, uport, rate):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(64)

    def pump(a, b, limit):
        try:
            while True:
                d = a.recv(65536 if not limit else max(1024, limit // 20))
                if not d:
                    break
                b.sendall(d)
                if limit:
                    time.sleep(len(d) / limit)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while True:
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", uport))
        threading.Thread(target=pump, args=(c, u, 0), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, rate), daemon=True).start()


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        sys.stderr.write("%s %s\n" % (self.command, self.path))

    def send(self, code, body=b"", ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def token(tport, key, cert, issuer, service, creds):
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    want = "Basic " + base64.b64encode(creds.encode()).decode()

    class H(Quiet):
        def do_GET(self):
            if self.headers.get("Authorization") != want:
                return self.send(401, b'{"error":"bad credentials"}')
            from urllib.parse import parse_qs, urlsplit
            q = parse_qs(urlsplit(self.path).query)
            access = []
            # one scope parameter per scope, as docker's token spec has it
            for sc in [x for v in q.get("scope", []) for x in v.split(" ")]:
                parts = sc.split(":")
                if len(parts) == 3 and parts[0] == "repository":
                    access.append({"type": "repository", "name": parts[1],
                                   "actions": parts[2].split(",")})
            now = int(time.time())
            head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
            claims = {"iss": issuer, "sub": creds.split(":")[0], "aud": service,
                      "exp": now + 600, "nbf": now - 60, "iat": now,
                      "jti": str(uuid.uuid4()), "access": access}
            si = b64u(json.dumps(head).encode()) + b"." + b64u(json.dumps(claims).encode())
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=si,
                                 check=True, capture_output=True).stdout
            tok = (si + b"." + b64u(sig)).decode()
            self.send(200, json.dumps({"token": tok, "expires_in": 600}).encode())

    Server(("127.0.0.1", tport), H).serve_forever()


# repository name -> how the liar lies
LIES = {
    "digest": "a blob's bytes do not have its digest",
    "size": "a blob has more bytes than its descriptor",
    "trunc": "a blob's body stops halfway (the connection closes)",
    "loop": "a blob redirects to itself",
    "layers": "a manifest of 100 000 layers",
    "huge": "a manifest of 10 GB",
    "version": "an artifact of an unknown version",
    "stall": "the manifest's answer stalls after its headers",
    "manifest": "the manifest sent for a digest has another digest",
}


def liar(lport, layout, tag):
    idx = json.load(open(layout + "/index.json"))
    mdesc = [m for m in idx["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]

    def blob(d):
        return open(layout + "/blobs/sha256/" + d.split(":")[1], "rb").read()

    real = blob(mdesc["digest"])
    m = json.loads(real)
    dev = m["layers"][-1]["digest"]

    def manifest_for(lie):
        if lie == "layers":
            mm = dict(m)
            mm["layers"] = [m["layers"][0]] * 100000
            return json.dumps(mm).encode()
        if lie == "version":
            mm = json.loads(real)
            mm["annotations"]["io.mkimg.artifact.version"] = "99"
            return json.dumps(mm).encode()
        return real

    class H(Quiet):
        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            p = self.path.split("?")[0]
            if p == "/v2/":
                return self.send(200, b"{}")
            parts = p.split("/")     # '', v2, lie, manifests|blobs, ref
            if len(parts) != 5 or parts[2] not in LIES:
                return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
            lie, kind, ref = parts[2], parts[3], parts[4]
            if kind == "manifests":
                if lie == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", mdesc["mediaType"])
                    self.send_header("Content-Length", str(10 << 30))
                    self.end_headers()
                    chunk = b" " * (1 << 20)
                    try:
                        for _ in range(10 << 10):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    return
                if lie == "stall":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(real)))
                    self.end_headers()
                    self.wfile.flush()
                    time.sleep(3600)
                    return
                body = manifest_for(lie)
                if lie == "manifest":
                    body = body + b" "
                return self.send(200, body, mdesc["mediaType"])
            if kind == "blobs":
                try:
                    b = blob(ref)
                except OSError:
                    return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                if ref == dev and lie == "digest":
                    b = bytes([b[0] ^ 1]) + b[1:]
                if ref == dev and lie == "size":
                    b = b + b"\0" * 4096
                if ref == dev and lie == "loop":
                    return self.send(307, b"", headers=[("Location", self.path)])
                if ref == dev and lie == "trunc":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(b)))
                    self.end_headers()
                    self.wfile.write(b[: len(b) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                return self.send(200, b, "application/octet-stream")
            return self.send(404, b"{}")

    Server(("127.0.0.1", lport), H).serve_forever()


def main():
    a = sys.argv[1:]
    if a[0] == "port":
        port()
    elif a[0] == "bcrypt":
        print(crypt.crypt(a[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))
    elif a[0] == "proxy":
        proxy(int(a[1]), int(a[2]), int(a[3]))
    elif a[0] == "token":
        token(int(a[1]), a[2], a[3], a[4], a[5], a[6])
    elif a[0] == "liar":
        liar(int(a[1]), a[2], a[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
