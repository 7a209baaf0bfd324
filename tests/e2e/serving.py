"""Running `flowrun serve` (and the CLI beside it) from the end-to-end tests.

    srv = Serve(flowrun_bin, [paths and options], env, cwd, logdir)
    srv.start()                      # waits (bounded) for "serving on port N"
    r = srv.post("/hooks/INTEGRATION/FLOW", {"a": 1})
    srv.stop()                       # SIGTERM, bounded wait, then SIGKILL

A Serve always listens on 127.0.0.1 with an ephemeral port (--listen
127.0.0.1:0) and is stopped by its pid.  Standard library only.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time

from helpers import API_KEY, SLACK_TOKEN, WEBHOOK_SECRET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FLOWS = os.path.join(HERE, "flows")
CONNECTORS = os.path.join(ROOT, "connectors")
EXAMPLE = os.path.join(ROOT, "flows", "progix-to-slack.yaml")


class Response:
    """status, headers (dict, lower-case names), body (bytes)."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise AssertionError("not JSON: %r" % (self,)) from None

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %s %s %r>" % (self.status, self.headers, self.body[:300])


def http_request(port, method, path, body=None, headers=None, timeout=15,
                 chunked=False):
    """One request on a new connection to 127.0.0.1:port; a Response.  body
    may be bytes, str or a JSON-able value (sent with Content-Type JSON
    unless headers say otherwise)."""
    headers = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body, separators=(",", ":"))
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if chunked:
            pieces = [body[i:i + 256] for i in range(0, len(body), 256)]
            conn.request(method, path, body=iter(pieces), headers=headers,
                         encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def wait_for(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns a true value (returned) or timeout
    seconds pass (AssertionError naming what was awaited)."""
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


class Serve:
    """One `flowrun serve` process."""

    def __init__(self, binary, args, env, cwd, logdir, name="serve"):
        self.binary, self.args, self.env, self.cwd = binary, list(args), env, cwd
        os.makedirs(logdir, exist_ok=True)
        self.logfile = os.path.join(logdir, "%s.%d.log" % (name, time.monotonic_ns()))
        self.proc = None
        self.port = None

    @property
    def pid(self):
        return self.proc.pid

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        argv = [self.binary, "serve", "--listen", "127.0.0.1:0"] + \
            [str(a) for a in self.args]
        with open(self.logfile, "wb") as err:
            self.proc = subprocess.Popen(argv, cwd=self.cwd, env=self.env,
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(r"serving on port (\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                self.ready_at = time.time()
                return self
            if self.proc.poll() is not None:
                raise AssertionError("flowrun serve exited with %s before "
                                     "serving:\n%s" % (self.proc.returncode,
                                                       self.log()[-4000:]))
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("flowrun serve did not start in %s s:\n%s"
                                     % (timeout, self.log()[-4000:]))
            time.sleep(0.02)

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=5, after=0):
        """Waits until the log (from offset after) matches the regex; the match."""
        return wait_for(lambda: re.search(pattern, self.log()[after:]), timeout,
                        "%r in the serve log; log:\n%s" % (pattern, self.log()[-3000:]))

    def request(self, method, path, body=None, headers=None, **kw):
        return http_request(self.port, method, path, body, headers, **kw)

    def post(self, path, body=None, headers=None, **kw):
        return self.request("POST", path, body, headers, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """The exit status, waiting at most timeout seconds (then fails)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("flowrun serve (pid %d) still running after "
                                 "%s s; log:\n%s" % (self.proc.pid, timeout,
                                                     self.log()[-3000:])) from None

    def kill(self):
        """kill -9 by pid (if still running) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def stop(self, timeout=10):
        """SIGTERM, wait; SIGKILL when it does not exit.  The exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                self.proc.wait()
        return self.proc.returncode

    def __repr__(self):
        return "<flowrun serve pid=%s port=%s>" % (
            self.proc.pid if self.proc else None, self.port)


def make_env(store):
    """The environment flowrun runs in: the three secrets set, no colour,
    no proxy, FLOWRUN_STORE=sqlite:STORE."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLOWRUN_") and k not in ("NO_COLOR",)}
    env.update({
        "PROGIX_API_KEY": API_KEY,
        "PROGIX_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SLACK_TOKEN": SLACK_TOKEN,
        "NO_COLOR": "1",
        "FLOWRUN_STORE": "sqlite:%s" % store,
        "no_proxy": "*", "NO_PROXY": "*",
    })
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    return env


# -- projects ---------------------------------------------------------------

def make_project(root, *flow_files, instances=None, connectors=True):
    """A project directory: root/flows/ with copies of the flow files,
    root/connectors/ with the repository's connectors, and
    root/instances/NAME.yaml for each {NAME: text} in instances."""
    os.makedirs(os.path.join(root, "flows"), exist_ok=True)
    for f in flow_files:
        shutil.copy(f, os.path.join(root, "flows", os.path.basename(f)))
    if connectors and not os.path.isdir(os.path.join(root, "connectors")):
        shutil.copytree(CONNECTORS, os.path.join(root, "connectors"))
    for name, text in (instances or {}).items():
        os.makedirs(os.path.join(root, "instances"), exist_ok=True)
        with open(os.path.join(root, "instances", name + ".yaml"), "w") as f:
            f.write(text)
    return os.path.join(root, "flows")


def store_path(env):
    """The SQLite file of FLOWRUN_STORE=sqlite:PATH."""
    url = env["FLOWRUN_STORE"]
    return url[len("sqlite:"):] if url.startswith("sqlite:") else url


def store_query(env, sql, *params):
    """Rows of a read-only query on the store (python's sqlite3)."""
    db = sqlite3.connect("file:%s?mode=ro" % store_path(env), uri=True, timeout=10)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


# -- signatures, from each scheme's published definition ----------------------

def hmac_hex(secret, data):
    if isinstance(secret, str):
        secret = secret.encode()
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def hmac_b64(secret, data):
    if isinstance(secret, str):
        secret = secret.encode()
    return base64.b64encode(hmac.new(secret, data, hashlib.sha256).digest()).decode()


def progix_signature(secret, body):
    """X-Progix-Signature: sha256=HEX(HMAC-SHA256(secret, raw body))."""
    return "sha256=" + hmac_hex(secret, body)
