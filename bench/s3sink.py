#!/usr/bin/env python3
"""s3sink.py PORTFILE - an S3 endpoint that keeps nothing, for bench/s3.sh only.

It answers what `regvault snapshot save` asks of S3 (list, initiate, upload part,
complete, put, head) and throws the data away, so a save can be timed with the
S3 server's own CPU off this machine's two cores, as it is with a remote S3. It
checks no signature and stores no byte: never a test fixture, never a store.
"""
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

sizes = {}  # key -> size of what was "stored", so HEAD after complete is right
parts = {}  # upload id -> total bytes of its parts
lock = threading.Lock()
EMPTY_UPLOADS = ('<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult>'
                 '<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>')
EMPTY_LIST = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
              '<IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>')


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body="", headers=None):
        data = body.encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def drain(self):
        left = int(self.headers.get("Content-Length", "0"))
        total = left
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while left > 0:
            n = self.rfile.readinto(view[: min(left, len(buf))])
            if not n:
                break
            left -= n
        return total

    def target(self):
        u = urlsplit(self.path)
        return u.path.lstrip("/"), parse_qs(u.query, keep_blank_values=True)

    def do_GET(self):
        key, q = self.target()
        self.answer(200, EMPTY_UPLOADS if "uploads" in q else EMPTY_LIST, {"Content-Type": "application/xml"})

    def do_HEAD(self):
        key, _ = self.target()
        with lock:
            size = sizes.get(key)
        if size is None:
            self.answer(404)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("ETag", '"sink"')
            self.send_header("Last-Modified", "Sun, 22 Nov 2026 00:00:00 GMT")
            self.end_headers()

    def do_PUT(self):
        key, q = self.target()
        n = self.drain()
        with lock:
            if "uploadId" in q:
                parts[q["uploadId"][0]] = parts.get(q["uploadId"][0], 0) + n
            else:
                sizes[key] = n
        self.answer(200, "", {"ETag": '"sink"'})

    def do_POST(self):
        key, q = self.target()
        self.drain()
        if "uploads" in q:
            with lock:
                uid = "u%d" % (len(parts) + 1)
                parts[uid] = 0
            self.answer(200, "<InitiateMultipartUploadResult><UploadId>%s</UploadId>"
                        "</InitiateMultipartUploadResult>" % uid, {"Content-Type": "application/xml"})
        else:
            with lock:
                sizes[key] = parts.pop(q["uploadId"][0], 0)
            self.answer(200, "<CompleteMultipartUploadResult><ETag>\"sink\"</ETag>"
                        "</CompleteMultipartUploadResult>", {"Content-Type": "application/xml"})

    def do_DELETE(self):
        key, q = self.target()
        with lock:
            if "uploadId" in q:
                parts.pop(q["uploadId"][0], None)
            else:
                sizes.pop(key, None)
        self.answer(204)


srv = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
import os
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
