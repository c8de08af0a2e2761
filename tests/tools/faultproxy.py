#!/usr/bin/env python3
"""faultproxy.py PORTFILE TARGET_PORT PLAN LOG - a fault-injecting HTTP proxy for S3 tests.

Listens on a free port on 127.0.0.1 (written to PORTFILE) and forwards each request
to 127.0.0.1:TARGET_PORT, one request per connection (the answer says Connection:
close). Before each request it looks at PLAN, a file of rules, first match wins:

    ACTION METHOD PATTERN [ARG] [xN]

METHOD is GET/PUT/POST/DELETE/HEAD or *; PATTERN a substring of the request target
(as sent, URI-encoded) or *; xN applies the rule N times (default 1, x* = always).
    status   answer ARG (500, 503, or CODE:S3CODE as 400:RequestTimeout) with an S3
             error body instead of forwarding
    dropreq  read ARG bytes of the request body, then close the connection
    dropresp forward, pass ARG bytes of the answer, then close the connection
    delay    wait ARG seconds, then forward (a slow server)
    striphdr forward, but drop the answer's header ARG (a server that ignores
             x-amz-server-side-encryption, say)
    addhdr   forward, adding header ARG (NAME:VALUE) to the answer
Used rules are removed from PLAN. LOG gets one line per request: METHOD TARGET ACTION;
LOG.headers the request's x-amz-* headers and the names its signature covers
("METHOD TARGET", then "  name: value" lines and "  signed: a;b;c");
LOG.times one line per request when it ends: METHOD TARGET START END (seconds), to
count the requests that overlapped.
With FAULTPROXY_TLS_CERT and FAULTPROXY_TLS_KEY set it speaks HTTPS (to test TLS).
"""
import os
import socket
import ssl
import sys
import threading
import time

PORTFILE, TARGET, PLAN, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()


def take_rule(method, target):
    with lock:
        try:
            with open(PLAN) as f:
                lines = [l.rstrip("\n") for l in f]
        except FileNotFoundError:
            return None
        for i, line in enumerate(lines):
            w = line.split()
            if len(w) < 3 or w[0].startswith("#"):
                continue
            count = "1"
            if len(w) > 3 and (w[-1] == "x*" or (w[-1][:1] == "x" and w[-1][1:].isdigit())):
                count = w[-1][1:]
                w = w[:-1]
            act, m, pat = w[0], w[1], w[2]
            arg = w[3] if len(w) > 3 else ""
            if (m == "*" or m == method) and (pat == "*" or pat in target):
                if count != "*":
                    n = int(count) - 1
                    if n <= 0:
                        del lines[i]
                    else:
                        lines[i] = " ".join([act, m, pat] + ([arg] if arg else []) + ["x%d" % n])
                    tmp = PLAN + ".tmp"
                    with open(tmp, "w") as f:
                        f.write("".join(l + "\n" for l in lines))
                    os.replace(tmp, PLAN)
                return act, arg
        return None


def log(line):
    with lock:
        with open(LOG, "a") as f:
            f.write(line + "\n")


def log_headers(what, lines):
    out = [what]
    for h in lines[1:]:
        k, _, v = h.decode("latin-1").partition(":")
        k, v = k.strip().lower(), v.strip()
        if k.startswith("x-amz-") and k != "x-amz-security-token":
            out.append("  %s: %s" % (k, v))
        elif k == "authorization" and "SignedHeaders=" in v:
            out.append("  signed: %s" % v.split("SignedHeaders=", 1)[1].split(",")[0])
    with lock:
        with open(LOG + ".headers", "a") as f:
            f.write("\n".join(out) + "\n")


def rewrite_head(head, act, arg):
    """The answer's status line and headers with ARG dropped (striphdr) or added (addhdr)."""
    lines = head.split(b"\r\n")
    if act == "striphdr":
        name = arg.lower().encode()
        lines = [lines[0]] + [l for l in lines[1:] if l.split(b":", 1)[0].strip().lower() != name]
    else:
        k, _, v = arg.partition(":")
        lines.insert(1, ("%s: %s" % (k, v)).encode())
    return b"\r\n".join(lines)


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, None, None
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    length = 0
    for h in lines[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    return lines, rest, length


def handle(conn):
    start, what = time.time(), None
    try:
        lines, rest, length = read_request(conn)
        if lines is None:
            return
        method, target = lines[0].decode().split(" ")[:2]
        what = "%s %s" % (method, target)
        rule = take_rule(method, target)
        act, arg = rule if rule else ("pass", "")
        log("%s %s %s" % (method, target, act))
        log_headers(what, lines)
        if act == "status":
            arg, _, code = arg.partition(":")
            code = code or ("SlowDown" if arg == "503" else "InternalError")
            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                    "<Message>injected by faultproxy</Message></Error>" % code).encode()
            # read the body so the client sees the answer, not a reset
            while len(rest) < length:
                chunk = conn.recv(min(65536, length - len(rest)))
                if not chunk:
                    break
                rest += chunk
            conn.sendall(("HTTP/1.1 %s Injected\r\nContent-Type: application/xml\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n" % (arg, len(body))).encode() + body)
            return
        if act == "dropreq":
            want = int(arg or 0)
            got = len(rest)
            while got < min(want, length):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return
        if act == "delay":
            time.sleep(float(arg or 1))
        up = socket.create_connection(("127.0.0.1", TARGET))
        hdrs = [l for l in lines if not l.lower().startswith(b"connection:")]
        up.sendall(b"\r\n".join(hdrs) + b"\r\nConnection: close\r\n\r\n" + rest)
        sent = len(rest)
        while sent < length:
            chunk = conn.recv(min(1 << 20, length - sent))
            if not chunk:
                up.close()
                return
            up.sendall(chunk)
            sent += len(chunk)
        limit = int(arg) if act == "dropresp" else -1
        passed = 0
        pending = b"" if act in ("striphdr", "addhdr") else None
        while True:
            chunk = up.recv(1 << 20)
            if not chunk:
                if pending:
                    conn.sendall(pending)
                break
            if pending is not None:
                pending += chunk
                if b"\r\n\r\n" not in pending:
                    continue
                head, body = pending.split(b"\r\n\r\n", 1)
                chunk, pending = rewrite_head(head, act, arg) + b"\r\n\r\n" + body, None
            if limit >= 0 and passed + len(chunk) >= limit:
                conn.sendall(chunk[: limit - passed])
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                break
            conn.sendall(chunk)
            passed += len(chunk)
        up.close()
    except OSError:
        pass
    finally:
        conn.close()
        if what:
            with lock:
                with open(LOG + ".times", "a") as f:
                    f.write("%s %.6f %.6f\n" % (what, start, time.time()))


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    tmp = PORTFILE + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.replace(tmp, PORTFILE)
    ctx = None
    if os.environ.get("FAULTPROXY_TLS_CERT"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.environ["FAULTPROXY_TLS_CERT"], os.environ["FAULTPROXY_TLS_KEY"])
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, ctx), daemon=True).start()


def serve(conn, ctx):
    if ctx:
        try:
            conn.settimeout(10)
            conn = ctx.wrap_socket(conn, server_side=True)
            conn.settimeout(None)
        except (OSError, ssl.SSLError):
            conn.close()
            return
    handle(conn)


main()
