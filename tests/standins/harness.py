"""Start and stop the stand-ins from tests (pytest or plain scripts).

    from harness import start
    with start("progix", "--api-key", "k", "--webhook-secret", "s") as progix:
        progix.post("/_admin/accounts", {"accounts": [{"name": "Acme"}]})
        print(progix.url, progix.get("/_admin/requests"))

start() runs the stand-in with --port 0 --portfile TMP, waits (bounded) for
its READY line and returns a Standin; stop() sends SIGTERM to its pid, then
SIGKILL if it does not exit.  Stand-ins still running when the interpreter
exits are stopped too.  Standard library only.
"""

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_running = []


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body  # bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Standin:
    def __init__(self, name, proc, port, tmpdir):
        self.name = name
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.tmpdir = tmpdir
        self.logfile = os.path.join(tmpdir, "stderr.log")
        self.log = ""  # the stand-in's stderr, kept once stopped

    def request(self, method, path, body=None, headers=None, timeout=30):
        """Any request; body may be bytes, str or a JSON-able object.
        Returns a Response whatever the status."""
        headers = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers)
        try:
            with _OPENER.open(req, timeout=timeout) as r:
                status, hdrs, data = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, data = e.code, e.headers, e.read()
        return Response(status, {k.lower(): v for k, v in hdrs.items()}, data)

    def _admin(self, method, path, obj):
        r = self.request(method, path, obj)
        if not 200 <= r.status < 300:
            raise RuntimeError("%s %s %s: %r" % (self.name, method, path, r))
        return r.json() if r.body else None

    def get(self, path):
        """GET an admin endpoint; the JSON answer (raises unless 2xx)."""
        return self._admin("GET", path, None)

    def post(self, path, obj=None):
        """POST JSON to an admin endpoint; the JSON answer (raises unless 2xx)."""
        return self._admin("POST", path, {} if obj is None else obj)

    def running(self):
        return self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM, wait, SIGKILL if needed; returns the exit status."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if os.path.isdir(self.tmpdir):
            try:
                with open(self.logfile, errors="replace") as f:
                    self.log = f.read()
            except OSError:
                pass
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self in _running:
            _running.remove(self)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "<Standin %s pid=%d %s>" % (self.name, self.pid, self.url)


def script_path(script):
    """"progix", "progix.py" or a path -> the script's path."""
    if os.sep in script:
        return script
    if not script.endswith(".py"):
        script += ".py"
    return os.path.join(HERE, script)


def start(script, *args, timeout=10.0):
    """Start a stand-in on an ephemeral port; a running Standin."""
    path = script_path(script)
    name = os.path.splitext(os.path.basename(path))[0]
    tmpdir = tempfile.mkdtemp(prefix="standin-%s-" % name)
    portfile = os.path.join(tmpdir, "port")
    with open(os.path.join(tmpdir, "stderr.log"), "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, path, "--port", "0", "--portfile", portfile] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    standin = Standin(name, proc, 0, tmpdir)
    _running.append(standin)
    try:
        port = _wait_ready(proc, timeout)
    except Exception as e:
        standin.stop()
        raise RuntimeError("%s did not start (%s): %s"
                           % (name, e, standin.log.strip()[-2000:])) from None
    standin.port = port
    standin.url = "http://127.0.0.1:%d" % port
    return standin


def _wait_ready(proc, timeout):
    """Read stdout until "READY port=N"; N.  Raises on exit or timeout."""
    deadline = time.monotonic() + timeout
    fd, buf = proc.stdout.fileno(), b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no READY line in %.0f s" % timeout)
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("exited with status %s" % proc.wait())
            buf += chunk
    line = buf.split(b"\n", 1)[0].decode()
    if not line.startswith("READY port="):
        raise RuntimeError("unexpected first line %r" % line)
    return int(line.split("=", 1)[1])


@atexit.register
def _stop_all():
    for standin in list(_running):
        standin.stop()
