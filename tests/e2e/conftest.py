"""Fixtures of the end-to-end tests of `flowrun run`, `deploy`, `runs`,
`show`, `replay` and `serve`.

    FLOWRUN=build/src/flowrun /usr/bin/python3 -m pytest -q tests/e2e

The flowrun binary is $FLOWRUN, else build/src/flowrun in the source tree.
The stand-ins (tests/standins) run once per module on ephemeral ports and are
reset before each test; they are stopped by pid when the module ends.
"""

import json
import itertools
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "standins"))

import harness  # noqa: E402
import serving  # noqa: E402

from helpers import *  # noqa: E402,F401,F403


class Result:
    """What one flowrun run gave: rc, stdout, stderr (text), and seconds."""

    def __init__(self, rc, stdout, stderr, seconds, argv):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.seconds = seconds
        self.argv = argv

    def __iter__(self):  # rc, out, err = run(...)
        return iter((self.rc, self.stdout, self.stderr))

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError("stdout is not JSON:\n%s\n--- stderr:\n%s"
                                 % (self.stdout, self.stderr)) from None

    def __repr__(self):
        return ("<flowrun %s: rc=%s in %.2fs\n--- stdout:\n%s\n--- stderr:\n%s>"
                % (" ".join(self.argv), self.rc, self.seconds,
                   self.stdout[-4000:], self.stderr[-4000:]))


@pytest.fixture(scope="session")
def flowrun_bin():
    path = os.environ.get("FLOWRUN") or os.path.join(ROOT, "build", "src", "flowrun")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        pytest.fail("no flowrun binary at %s (build it, or set FLOWRUN)" % path)
    return path


@pytest.fixture
def base_env(tmp_path):
    """The environment flowrun runs in: the three secrets set, no colour,
    no proxy, a store in the test's temporary directory (serving.make_env)."""
    return serving.make_env(tmp_path / "store.db")


@pytest.fixture
def run(flowrun_bin, base_env, tmp_path):
    """run("run", ARGS..., env={...}, unset=[...], timeout=S, stdin=TEXT)
    runs flowrun in the test's temporary directory; a Result, which also
    unpacks as (rc, stdout, stderr)."""

    def _run(*args, env=None, unset=(), timeout=30, stdin=None):
        e = dict(base_env)
        e.update(env or {})
        for k in unset:
            e.pop(k, None)
        argv = [flowrun_bin] + [str(a) for a in args]
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, cwd=str(tmp_path), env=e, input=stdin,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, text=True, errors="replace")
        except subprocess.TimeoutExpired as x:
            pytest.fail("flowrun %s did not finish in %s s; stderr so far:\n%s"
                        % (" ".join(argv[1:]), timeout,
                           (x.stderr or b"")[-2000:]))
        return Result(p.returncode, p.stdout, p.stderr,
                      time.monotonic() - t0, argv[1:])

    return _run


# -- stand-ins ---------------------------------------------------------------

@pytest.fixture(scope="module")
def progix_server():
    s = harness.start("progix", "--api-key", API_KEY,
                      "--webhook-secret", WEBHOOK_SECRET, "--page-size", "2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def slack_server():
    s = harness.start("slack", "--token", SLACK_TOKEN,
                      "--channels", "#newaccount,#general")
    yield s
    s.stop()


@pytest.fixture
def progix(progix_server):
    assert progix_server.running(), progix_server.log
    progix_server.post("/_admin/reset")
    return progix_server


@pytest.fixture
def slack(slack_server):
    assert slack_server.running(), slack_server.log
    slack_server.post("/_admin/reset")
    return slack_server


# -- flowrun serve (tests/e2e/test_serve*.py) -----------------------------------


@pytest.fixture
def serve(flowrun_bin, base_env, tmp_path):
    """serve(ARGS..., env={...}) starts `flowrun serve --listen 127.0.0.1:0
    ARGS...` in the test's temporary directory (same environment and store
    as run()) and waits for its port; a serving.Serve.  Every one still
    running when the test ends is killed by its pid."""
    started = []

    def _serve(*args, env=None, start=True):
        e = dict(base_env)
        e.update(env or {})
        s = serving.Serve(flowrun_bin, args, e, str(tmp_path),
                          str(tmp_path / "logs"))
        started.append(s)
        return s.start() if start else s

    yield _serve
    for s in started:
        s.kill()


@pytest.fixture
def project(tmp_path):
    """project(FLOW_FILE..., instances={NAME: TEXT}) makes a project under
    the test's temporary directory (flows/, connectors/, instances/) and
    returns its flows/ directory."""
    def _project(*flow_files, instances=None, name="proj"):
        return serving.make_project(str(tmp_path / name), *flow_files,
                                    instances=instances)
    return _project


@pytest.fixture(scope="session")
def ticker(flowrun_bin, tmp_path_factory):
    """A serve of tests/e2e/flows/tick.yaml (a schedule "* * * * *") with its
    own store, started once, as early as the first test that asks for it
    (test_serve.py asks at its start), so that the wait for the next minute
    overlaps other tests; test_serve_schedule.py checks it fired.
    .started_at and .ready_at: wall-clock times before it was started and
    once it served."""
    root = tmp_path_factory.mktemp("ticker")
    env = serving.make_env(root / "store.db")
    s = serving.Serve(flowrun_bin, [os.path.join(HERE, "flows", "tick.yaml")],
                      env, str(root), str(root / "logs"), name="ticker")
    s.started_at = time.time()
    s.start()
    yield s
    s.kill()


def _start_pg():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "pgserver", os.path.join(ROOT, "tests", "pgserver.py"))
    pgserver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgserver)
    try:
        return pgserver.start()
    except (pgserver.Error, OSError) as e:
        pytest.fail("no PostgreSQL server for the tests: %s" % e)


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server started for this session (tests/pgserver.py),
    stopped by pid at the end.  A test that asks for it fails with the
    reason when no server can be started."""
    server = _start_pg()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server):
    return pg_server.url


_databases = itertools.count()


@pytest.fixture
def pg_db(pg_server):
    """The URL of a new, empty database of the session's server."""
    return pg_server.create_database("t%d_%d" % (os.getpid(), next(_databases)))


@pytest.fixture
def pg_own_server():
    """A PostgreSQL server of this test's own, to stop and start."""
    server = _start_pg()
    try:
        yield server
    finally:
        server.stop()
