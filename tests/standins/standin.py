"""Common code of the local API stand-ins (progix.py, slack.py).

A stand-in is an App subclass: it declares routes, handles requests and keeps
its state under self.lock.  This module supplies the HTTP/1.1 server, the
command line (--port, --portfile, ...), the READY line, clean stop on
SIGTERM/SIGINT, and the admin endpoints every stand-in shares:

    GET  /_admin/requests   every non-admin request received, in order
    POST /_admin/reset      forget all state (App.reset)
    POST /_admin/fail       inject failures into the next matching requests
    GET  /_admin/inflight   requests being answered now, and the most at once

Admin requests need no auth, are not logged and are never failed.
Standard library only.
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 * 1024 * 1024


class Request:
    """One parsed request: method, path, query (raw), params, headers, body."""

    def __init__(self, method, target, headers, body):
        url = urllib.parse.urlsplit(target)
        self.method = method
        self.path = url.path
        self.query = url.query
        self.params = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        self.headers = headers  # dict, lower-case names
        self.body = body  # bytes

    def param(self, name, default=None):
        values = self.params.get(name)
        return values[-1] if values else default

    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self):
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def log_entry(self):
        return {"method": self.method, "path": self.path, "query": self.query,
                "headers": dict(self.headers),
                "body": self.body.decode("utf-8", errors="replace"),
                "time": time.time(), "status": None}


class Reply:
    """An answer: status, a JSON-able body (None = no body) and extra headers."""

    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def error(status, message, **extra):
    return Reply(status, dict({"error": message}, **extra))


class App:
    """Base of a stand-in.  Subclasses set routes/admin_routes to lists of
    (METHOD, path regex, method name); the named method gets the Request and
    the regex groups and returns a Reply."""

    name = "standin"
    routes = []
    admin_routes = []
    base_admin_routes = [
        ("GET", r"/_admin/requests", "admin_requests"),
        ("POST", r"/_admin/reset", "admin_reset"),
        ("POST", r"/_admin/fail", "admin_fail"),
        ("GET", r"/_admin/inflight", "admin_inflight"),
        ("POST", r"/_admin/release", "admin_release"),
    ]

    @classmethod
    def add_arguments(cls, parser):
        pass

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.requests = []
        self.failures = []
        self.reset()

    def reset(self):
        """Subclasses extend this to clear their own state (call super)."""
        with self.lock:
            self.requests = []
            self.failures = []
            self.inflight = self.inflight_max = 0
            self.released = threading.Event()

    def check_auth(self, req):
        """A Reply refusing a non-admin request, or None to let it through."""
        return None

    def injected_body(self, status):
        return {"error": "injected failure", "status": status}

    # -- dispatch -----------------------------------------------------------

    def dispatch(self, req):
        if req.path == "/_admin" or req.path.startswith("/_admin/"):
            return self.route(self.base_admin_routes + self.admin_routes, req)
        entry = req.log_entry()
        with self.lock:
            self.requests.append(entry)
            self.inflight += 1
            self.inflight_max = max(self.inflight_max, self.inflight)
        try:
            return self.answer(req, entry)
        finally:
            with self.lock:
                self.inflight -= 1

    def answer(self, req, entry):
        failure = self.take_failure(req)
        reply = None
        if failure is not None:
            if failure.get("delay"):
                # delay seconds, or until POST /_admin/release
                self.released.wait(float(failure["delay"]))
            if failure.get("status") is not None:
                reply = self.failure_reply(failure)
        if reply is None:
            reply = self.check_auth(req) or self.route(self.routes, req)
        with self.lock:
            entry["status"] = reply.status
        return reply

    def route(self, routes, req):
        path_known = False
        for method, pattern, handler in routes:
            m = re.fullmatch(pattern, req.path)
            if m is None:
                continue
            path_known = True
            if method == req.method:
                return getattr(self, handler)(req, *m.groups())
        if path_known:
            return self.method_not_allowed(req)
        return self.not_found(req)

    def not_found(self, req):
        return error(404, "not found", path=req.path)

    def method_not_allowed(self, req):
        return error(405, "method not allowed", method=req.method, path=req.path)

    # -- failure injection --------------------------------------------------

    def take_failure(self, req):
        with self.lock:
            for f in self.failures:
                if f["count"] == 0:
                    continue
                if f["method"] not in (None, "*", req.method):
                    continue
                if f["path"] not in (None, "*", req.path):
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                return dict(f)
        return None

    def failure_reply(self, f):
        body = f["body"] if "body" in f else self.injected_body(f["status"])
        headers = dict(f.get("headers") or {})
        if f.get("retry_after") is not None:
            headers["Retry-After"] = str(f["retry_after"])
        return Reply(f["status"], body, headers)

    # -- shared admin endpoints ---------------------------------------------

    def admin_requests(self, req):
        with self.lock:
            return Reply(200, {"requests": [dict(e) for e in self.requests]})

    def admin_reset(self, req):
        self.reset()
        return Reply(200, {"ok": True})

    def admin_inflight(self, req):
        """Requests being answered now, and the most at once since reset."""
        with self.lock:
            return Reply(200, {"now": self.inflight, "max": self.inflight_max})

    def admin_release(self, req):
        """Delayed requests are answered now, and later ones at once."""
        self.released.set()
        return Reply(200, {"ok": True})

    def admin_fail(self, req):
        try:
            spec = req.json()
        except ValueError:
            return error(400, "body is not JSON")
        if not isinstance(spec, dict):
            return error(400, "body must be a JSON object")
        status = spec.get("status")
        if status is not None and not isinstance(status, int):
            return error(400, "status must be an integer")
        if status is None and not spec.get("delay"):
            return error(400, "status (or delay) is required")
        count = spec.get("count", 1)
        if not isinstance(count, int):
            return error(400, "count must be an integer")
        failure = {"method": spec.get("method"), "path": spec.get("path"),
                   "status": status, "count": count,
                   "retry_after": spec.get("retry_after"),
                   "headers": spec.get("headers"), "delay": spec.get("delay")}
        if "body" in spec:
            failure["body"] = spec["body"]
        with self.lock:
            self.failures.append(failure)
            return Reply(201, {"failures": [dict(f) for f in self.failures]})


# -- HTTP server ----------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: reads the whole body (Content-Length or
    chunked) and always answers with a correct Content-Length."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without this, Nagle's
    # algorithm and the client's delayed ACK add 40 ms to each answer
    disable_nagle_algorithm = True
    app = None  # set on the subclass made by serve()
    verbose = False
    timeout = 120  # idle keep-alive connections are dropped after this

    def handle_any(self):
        try:
            body = self.read_body()
        except ValueError as e:
            self.close_connection = True
            self.send_reply(error(400, str(e)))
            return
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        req = Request(self.command, self.path, headers, body)
        try:
            reply = self.app.dispatch(req)
        except Exception as e:  # a bug in the stand-in: say so loudly
            traceback.print_exc()
            reply = error(500, "stand-in error: %s" % e)
        self.send_reply(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        n = int(length)
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n)

    def send_reply(self, reply):
        data = b""
        if reply.body is not None and reply.status not in (204, 304):
            data = json.dumps(reply.body).encode("utf-8")
        self.send_response(reply.status)
        if reply.status not in (204, 304):
            if reply.body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("%s: %s\n" % (self.app.name, fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog


def write_portfile(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(app_cls, argv=None):
    parser = argparse.ArgumentParser(prog=app_cls.name, description=app_cls.__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--portfile", help="write the port here once listening")
    parser.add_argument("--verbose", action="store_true", help="log requests on stderr")
    app_cls.add_arguments(parser)
    args = parser.parse_args(argv)

    app = app_cls(args)
    handler = type("BoundHandler", (Handler,), {"app": app, "verbose": args.verbose})
    server = Server((args.host, args.port), handler)
    port = server.server_address[1]

    # The handler only sets a flag: taking locks inside a signal handler
    # can deadlock against the interrupted main thread.
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

    thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    if args.portfile:
        write_portfile(args.portfile, port)
    print("READY port=%d" % port, flush=True)

    while not stopping:
        time.sleep(0.1)
    server.shutdown()
    server.server_close()
    return 0
