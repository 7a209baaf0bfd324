"""Runaway jq programs are stopped by the step's and the flow's timeout
(flows/timeouts.yaml): a clear error and exit 1, never a hang or a crash."""

import re

import pytest

from helpers import flow_file, step

FILE = flow_file("timeouts")
TIMEOUT = re.compile(r"time(d)? ?out", re.I)


def run_timeouts(run, flow, *more):
    # the harness's own timeout (20 s) is far above what the flows allow
    return run("run", FILE, "--flow", flow, *more, timeout=20)


@pytest.mark.parametrize("flow", [
    "recursion",   # def f: f; f
    "big_range",   # [range(1e12)] | length
    "reduce",      # reduce range(1e12) as $i (0; . + $i)
    "in_text",     # ${{ def f: f; f }} in a log text
    "in_when",     # an if: condition
])
def test_step_timeout_stops_a_runaway_program(run, flow):
    r = run_timeouts(run, flow)
    assert r.rc == 1, r
    assert r.seconds < 5, "took %.1f s with a 1s step timeout" % r.seconds
    assert TIMEOUT.search(r.stderr), r
    assert "spin" in r.stderr, r
    assert "after the runaway step" not in r.stderr


def test_step_timeout_json_trace(run):
    r = run_timeouts(run, "recursion", "--json")
    assert r.rc == 1, r
    t = r.json()
    assert t["status"] == "failed" and TIMEOUT.search(t["error"])
    spin = step(t, "spin")
    assert spin["status"] == "failed"
    assert TIMEOUT.search(spin["error"])
    assert 900 <= spin["duration_ms"] < 4000


def test_timed_out_step_with_on_error_ignore(run):
    r = run_timeouts(run, "ignored", "--json")
    assert r.rc == 0, r
    assert r.seconds < 5
    t = r.json()
    assert step(t, "spin")["status"] == "ignored"
    assert TIMEOUT.search(step(t, "after")["output"]["after"]["error"])


def test_flow_timeout_stops_a_runaway_program(run):
    # several runs: the end of the flow's time must never crash flowrun
    for _ in range(3):
        r = run_timeouts(run, "flow_level")
        assert r.rc == 1, r
        assert r.seconds < 5, "took %.1f s with a 1s flow timeout" % r.seconds
        assert TIMEOUT.search(r.stderr), r
        assert "after the runaway step" not in r.stderr


def test_flow_timeout_across_many_short_steps(run):
    r = run_timeouts(run, "flow_level_loop", "--json")
    assert r.rc == 1, r
    assert r.seconds < 6
    t = r.json()
    assert t["status"] == "failed"
    assert TIMEOUT.search(t["error"]), t["error"]
    assert step(t, "each")["status"] == "failed"
    assert "after the loop" not in r.stderr
