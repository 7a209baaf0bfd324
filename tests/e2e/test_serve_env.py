"""serve's options from FLOWRUN_* environment variables: --foo-bar from
FLOWRUN_FOO_BAR, for every option that takes a value (but --set, --store
and --connectors, which have their own), the command line winning."""

import json
import os
import re
import signal
import subprocess

import pytest

from serving import wait_for

FLOW = "integration: e\nflows:\n  h:\n    trigger:\n      webhook: {}\n" \
       "    steps:\n      - transform: 1\n"


@pytest.fixture
def flow(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text(FLOW)
    return f


@pytest.fixture
def start(flowrun_bin, base_env, tmp_path):
    """start(ARGS..., env={...}): flowrun serve ARGS (no --listen of its
    own) until it serves; (process, log text function).  Stopped by pid."""
    procs = []

    def _start(*args, env=None):
        e = dict(base_env)
        e.update(env or {})
        log = tmp_path / ("serve%d.log" % len(procs))
        with open(log, "wb") as err:
            p = subprocess.Popen([flowrun_bin, "serve"] + [str(a) for a in args],
                                 cwd=str(tmp_path), env=e, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err)
        procs.append(p)
        text = lambda: log.read_text(errors="replace")
        wait_for(lambda: "serving on port" in text() or p.poll() is not None,
                 15, "serve to start")
        assert p.poll() is None, text()
        return p, text

    yield _start
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait()


def serve_options(run):
    """The long options of serve that take a value, from its --help."""
    r = run("serve", "--help")
    return sorted(set(re.findall(r"--([a-z][a-z-]*) [A-Z]", r.stdout)))


def env_name(option):
    return "FLOWRUN_" + option.upper().replace("-", "_")


def test_options_from_the_environment(start, flow):
    p, log = start(flow, env={"FLOWRUN_LISTEN": "127.0.0.1:0",
                              "FLOWRUN_WORKERS": "3",
                              "FLOWRUN_PUBLIC_URL": "http://pub.e2e.test",
                              "FLOWRUN_LOG_FORMAT": "json"})
    lines = [json.loads(l) for l in log().splitlines() if l.strip()]
    (first,) = [x for x in lines if x["msg"].startswith("serving on port")]
    assert "(127.0.0.1:0)" in first["msg"] and "3 workers" in first["msg"], first
    assert any("http://pub.e2e.test/hooks/e/h" in x["msg"] for x in lines), lines


def test_the_command_line_wins(start, flow):
    # a bad value the command line overrides is not even read
    p, log = start(flow, "--listen", "127.0.0.1:0", "--workers", "5",
                   env={"FLOWRUN_LISTEN": "nowhere", "FLOWRUN_WORKERS": "2"})
    assert "5 workers" in log() and "(127.0.0.1:0)" in log(), log()


def test_every_option_with_a_value_has_its_variable(run, flow):
    # each variable is read: a bad value in it is a usage error naming it
    bad = {"listen": "nowhere", "workers": "lots", "http-threads": "0",
           "grace": "soon", "sync-timeout": "x", "queue-limit": "-1",
           "lease": "1ms", "log-format": "xml", "color": "pink",
           "worker-memory": "1MiB"}
    options = serve_options(run)
    # the rule's exceptions: --set (repeatable), --store and --connectors
    # (FLOWRUN_STORE, FLOWRUN_CONNECTORS for every command)
    checked = [o for o in options if o not in ("set", "store", "connectors")]
    assert set(bad) <= set(checked), checked
    for option in checked:
        if option not in bad:
            continue
        var = env_name(option)
        r = run("serve", flow, env={var: bad[option],
                                    "FLOWRUN_LISTEN": "127.0.0.1:0"}
                if option != "listen" else {var: bad[option]}, timeout=10)
        assert r.rc == 2, (option, r)
        assert r.stderr.startswith("flowrun serve: %s: " % var), (option, r)
        assert bad[option] in r.stderr, (option, r)
    # the ones no value is wrong for are read too
    assert {"public-url", "instance"} <= set(checked) - set(bad), checked


def test_instance_from_the_environment(start, flow, tmp_path):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "e.yaml").write_text(FLOW)
    (tmp_path / "instances").mkdir()
    (tmp_path / "instances" / "acme.yaml").write_text(
        "instance: acme\nintegration: e\n")
    p, log = start(tmp_path / "flows", env={"FLOWRUN_LISTEN": "127.0.0.1:0",
                                            "FLOWRUN_INSTANCE": "acme"})
    assert "e/acme/h" in log() and "e/default/h" not in log(), log()


def test_an_empty_variable_is_unset(start, flow):
    p, log = start(flow, "--listen", "127.0.0.1:0", env={"FLOWRUN_WORKERS": ""})
    assert "4 workers" in log(), log()
