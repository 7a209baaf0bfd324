"""The one logger: every line of every command, as text or JSON lines."""

import json
import re

from helpers import CONNECTORS, flow_file
from serving import wait_for

CLUSTER = flow_file("cluster")
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def json_lines(text):
    lines = [l for l in text.splitlines() if l.strip()]
    out = []
    for l in lines:
        try:
            out.append(json.loads(l))
        except ValueError:
            raise AssertionError("not a JSON line: %r\nin:\n%s" % (l, text))
    return out


def test_serve_lines_are_json_with_time_and_place(serve):
    # slack_url unreachable: the execution fails, and says so in the log
    srv = serve(CLUSTER, "--connectors", CONNECTORS, "--log-format", "json")
    r = srv.post("/hooks/e2e-cluster/load", {"n": 1})
    assert r.status == 202, r
    ident = r.json()["execution"]
    wait_for(lambda: ident in srv.log(), 30, "the failed execution's line")
    lines = json_lines(srv.log())
    for x in lines:
        assert TS.fullmatch(x["ts"]) and x["level"] in ("debug", "info", "warn",
                                                        "error"), x
    assert any(x["msg"].startswith("serving on port") for x in lines), lines
    (failed,) = [x for x in lines if x.get("execution") == ident]
    assert failed["level"] == "error" and failed["flow"] == "load", failed
    assert failed["integration"] == "e2e-cluster" and failed["instance"] == "default"


def test_serve_text_lines_start_with_the_time(serve):
    srv = serve(CLUSTER, "--connectors", CONNECTORS)
    for line in srv.log().splitlines():
        assert TS.match(line) and " flowrun: " in line, line


def test_run_lines_are_json_too(run, tmp_path):
    # a log step, and the execution's own error, from a one-shot command
    f = tmp_path / "said.yaml"
    f.write_text("integration: said\nflows:\n  say:\n    steps:\n"
                 "      - id: hello\n        log: 'after the loop'\n")
    r = run("run", str(f), "--flow", "say", "--log-format", "json")
    (x,) = json_lines(r.stderr)
    assert TS.fullmatch(x["ts"]) and x["msg"] == "after the loop", x
    assert x["flow"] == "say" and x["step"] == "hello", x
    assert x["execution"].startswith("ex_"), x
    r = run("runs", "--status", "nope", "--log-format", "json")
    assert r.rc == 2, r     # a usage error is not a log line
    r = run("show", "ex_nothing_like_it", "--log-format", "json")
    assert r.rc == 1, r
    (x,) = json_lines(r.stderr)
    assert x["level"] == "error" and "ex_nothing_like_it" in x["msg"], x
