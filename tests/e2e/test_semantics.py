"""Step semantics of flow files, with no HTTP: branch, loop, if, transform,
set, log, fail, stop, and expressions that yield the wrong number of values.
Every flow is in flows/semantics.yaml (manual trigger; --input is .trigger)."""

import json

import pytest

from helpers import find_steps, flow_file, step

FILE = flow_file("semantics")


@pytest.fixture
def sem(run):
    """sem(FLOW, INPUT, *more) -> Result of a --json run (INPUT: JSON-able)."""

    def _sem(flow, value=None, *more, **kw):
        args = ["run", FILE, "--flow", flow, "--json"]
        if value is not None:
            args += ["--input", json.dumps(value)]
        return run(*args, *more, **kw)

    return _sem


def ok(r):
    assert r.rc == 0, r
    t = r.json()
    assert t["status"] == "ok" and t["error"] is None, t
    return t


# -- branch -----------------------------------------------------------------

@pytest.mark.parametrize("n, want", [
    (20, {"branch": "big", "output": "big 20"}),       # also matches 'shadowed'
    (7, {"branch": "medium", "output": "medium, last"}),  # last step's output
    (1, {"branch": "else", "output": "small"}),
])
def test_branch_first_true_case_wins(sem, n, want):
    t = ok(sem("branch", {"n": n}))
    assert step(t, "pick")["output"] == want
    assert step(t, "seen")["output"] == want
    assert step(t, "pick")["branch"] == want["branch"]


def test_branch_runs_only_the_chosen_case(sem):
    t = ok(sem("branch", {"n": 20}))
    pick = step(t, "pick")
    assert len(pick["steps"]) == 1  # the one step of 'big', nothing of the rest
    assert pick["steps"][0]["output"] == "big 20"


def test_branch_without_match_or_else(sem):
    t = ok(sem("branch_no_else", {}))
    assert step(t, "pick")["output"] == {"branch": None}
    assert step(t, "seen")["output"] == {"branch": None}
    assert step(t, "pick")["steps"] == []


# -- loop ---------------------------------------------------------------------

def test_loop_output_is_each_iterations_last_output(sem):
    t = ok(sem("loop", {"items": [1, 2, 3]}))
    each = step(t, "each")
    assert each["output"] == [10, 21, 32]
    assert step(t, "seen")["output"] == [10, 21, 32]
    assert [it["index"] for it in each["iterations"]] == [0, 1, 2]
    assert [[s["id"] for s in it["steps"]] for it in each["iterations"]] == \
        [["tenfold", "plus"]] * 3


def test_loop_over_empty_list(sem):
    r = sem("loop_empty", {})
    t = ok(r)
    assert step(t, "each")["output"] == []
    assert step(t, "each")["iterations"] == []
    assert step(t, "seen")["output"] == {"each": []}
    assert "loop body ran" not in r.stderr + r.stdout


def test_loop_as_names_the_variable(sem):
    t = ok(sem("loop_as", {"things": [{"name": "a"}, {"name": "b"}]}))
    assert t["output"] == ["0:a", "1:b"]


def test_nested_loops(sem):
    rows = [{"name": "r", "cells": ["x", "y"]}, {"name": "s", "cells": ["z"]},
            {"name": "t", "cells": []}]
    t = ok(sem("loop_nested", {"rows": rows}))
    # inner $index is the inner loop's; the outer variable $row is visible
    assert t["output"] == [["r0[0]=x", "r0[1]=y"], ["s1[0]=z"], []]


def test_loop_max_exceeded_is_an_error(sem):
    r = sem("loop_max", {"items": [1, 2, 3]})
    assert r.rc == 1, r
    t = r.json()
    assert t["status"] == "failed"
    assert "max" in t["error"] and "each" in t["error"]
    assert step(t, "each")["status"] == "failed"
    assert "after the loop" not in r.stderr


def test_failure_in_a_loop_fails_the_loop(sem):
    r = sem("loop_fail")
    assert r.rc == 1, r
    t = r.json()
    assert t["status"] == "failed" and "bad item 2" in t["error"]
    each = step(t, "each")
    assert len(each["iterations"]) == 2  # the third item is not run
    assert [s["status"] for it in each["iterations"] for s in it["steps"]] == \
        ["ok", "failed"]
    assert each["status"] == "failed", each
    assert "after the loop" not in r.stderr


def test_loop_within_max(sem):
    t = ok(sem("loop_max", {"items": [1, 2]}))
    assert step(t, "each")["output"] == [1, 2]


# -- if -------------------------------------------------------------------------

@pytest.mark.parametrize("flag", [False, True])
def test_if_skips_the_step(sem, flag):
    t = ok(sem("if", {"flag": flag}))
    ran, skipped = ("maybe", "always") if flag else ("always", "maybe")
    assert step(t, ran)["status"] == "ok"
    assert step(t, skipped)["status"] == "skipped"
    seen = step(t, "seen")["output"]
    assert seen[skipped] is None
    assert seen[ran] == ("ran" if flag else "negated ran")


# -- transform, templates ------------------------------------------------------

def test_transform_and_context(sem):
    t = ok(sem("transform", {"items": [1, 2, 3, 4]}))
    assert step(t, "t")["output"] == 20
    assert step(t, "ctx")["output"] == {
        "flow": "transform", "integration": "e2e-semantics",
        "instance": "default", "t": 20, "same": True}


def test_template_whole_value_and_text(sem):
    t = ok(sem("template", {"obj": {"n": 1, "l": [1, 2]}, "s": "str"}))
    out = step(t, "typed")["output"]
    assert out["whole"] == {"n": 1, "l": [1, 2]}  # the JSON value itself
    assert out["inside"] == 'n=1 obj={"n":1,"l":[1,2]} s=str'


# -- set, log ---------------------------------------------------------------

def test_set_is_visible_to_later_steps(sem):
    t = ok(sem("set", {"n": 4}))
    assert step(t, "first")["output"] == {"counter": 5, "name": "fixed"}
    read = step(t, "read")["output"]
    assert read["counter"] == 5 and read["name"] == "fixed"
    assert step(t, "again")["output"] == 10
    assert t["output"] == 10


def test_log_goes_to_stderr(run):
    r = run("run", FILE, "--flow", "log", "--input", '{"name": "world"}')
    assert r.rc == 0, r
    assert "hello world from the log step" in r.stderr
    assert "a warning for world" in r.stderr


def test_log_output_is_the_text(sem):
    r = sem("log", {"name": "world"})
    t = ok(r)
    assert step(t, "hello")["output"] == "hello world from the log step"
    assert "hello world from the log step" in r.stderr
    # stdout is one JSON document: the log line is not mixed in
    json.loads(r.stdout)


# -- fail, stop ---------------------------------------------------------------

def test_fail_ends_the_run_failed(run):
    r = run("run", FILE, "--flow", "fail", "--input", '{"x": 42}')
    assert r.rc == 1, r
    assert "giving up on 42" in r.stderr
    assert "before the fail" in r.stderr
    assert "after the fail" not in r.stderr + r.stdout


def test_fail_json_trace(sem):
    r = sem("fail", {"x": 42})
    assert r.rc == 1, r
    t = r.json()
    assert t["status"] == "failed"
    assert "giving up on 42" in t["error"]
    assert [s.get("id") for s in t["steps"]] == [None, "boom"]
    # the fail step is where the execution failed
    assert step(t, "boom")["status"] == "failed", step(t, "boom")


def test_stop_ends_the_run_ok(sem):
    r = sem("stop", {"x": 42})
    t = ok(r)
    assert "after the stop" not in r.stderr
    assert find_steps(t["steps"], lambda s: s.get("id") == "later") == []
    assert step(t, "halt")["status"] == "ok"
    assert step(t, "first")["output"] == "first"


def test_stop_inside_a_loop_ends_the_execution(run):
    r = run("run", FILE, "--flow", "stop_in_loop")
    assert r.rc == 0, r
    assert "item 1" in r.stderr
    assert "item 3" not in r.stderr
    assert "after the loop" not in r.stderr


# -- expressions yielding zero or several values ---------------------------------

@pytest.mark.parametrize("flow, ident", [
    ("many_values", "several"),    # transform
    ("many_in_text", "text"),      # ${{ }} inside text
    ("many_in_when", "pick"),      # a branch's when
])
def test_several_values_is_an_error(sem, flow, ident):
    r = sem(flow, {"items": [1, 2, 3]})
    assert r.rc == 1, r
    t = r.json()
    assert "more than one value" in t["error"] or "several values" in t["error"], t
    assert ident in t["error"]
    assert step(t, ident)["status"] == "failed"
    assert "more than one value" in r.stderr or "several values" in r.stderr


def test_no_value_is_an_error(sem):
    r = sem("no_value", {})
    assert r.rc == 1, r
    assert "no value" in r.json()["error"]
    assert "none" in r.json()["error"]


# -- loops with concurrency ------------------------------------------------------

def test_concurrent_loop_keeps_the_order(sem):
    t = ok(sem("loop_concurrent", {"n": 12, "bad": -1}))
    assert t["output"] == [2 * i + 1 for i in range(12)]
    each = step(t, "each")
    assert sorted(it["index"] for it in each["iterations"]) == list(range(12))


def test_concurrent_loop_failure_fails_the_run(sem):
    r = sem("loop_concurrent", {"n": 12, "bad": 5})
    assert r.rc == 1, r
    t = r.json()
    assert t["status"] == "failed"
    assert "item 5 is bad" in t["error"]
    assert step(t, "each")["status"] == "failed"


def test_set_persists_across_runs_but_not_in_a_dry_run(sem):
    def before(*more):
        t = ok(sem("count", None, *more))
        return step(t, "before")["output"], step(t, "after")["output"]

    assert before() == (0, 1)
    assert before() == (1, 2)
    # a dry-run sees the state, and its own set in memory, but writes nothing
    assert before("--dry-run") == (2, 3)
    assert before() == (2, 3)


def test_runs_are_recorded_but_dry_runs_are_not(sem, run):
    ok(sem("count", None, "--dry-run"))
    ok(sem("count", None, "--offline"))
    r = run("runs", "--json")
    assert r.rc == 0, r
    assert json.loads(r.stdout) == []
    t = ok(sem("count"))
    r = run("runs", "--json")
    assert [e["id"] for e in json.loads(r.stdout)] == [t["execution"]]


def test_update_sees_the_key_as_dot_and_the_context_as_ctx(sem):
    t = ok(sem("tally", {"n": 2, "who": "ann"}))
    assert step(t, "bump")["output"] == {
        "total": 2, "by": "ann", "runs": 1, "history": ["ann"]}
    t = ok(sem("tally", {"n": 3, "who": "bob"}))
    # stored: the second execution's programs got the first one's values
    assert step(t, "bump")["output"] == {
        "total": 5, "by": "bob", "runs": 2, "history": ["ann", "bob"]}
    after = step(t, "after")["output"]
    assert after["total"] == 5 and after["history"] == ["ann", "bob"]
    # loop variables are bound inside update programs: 1 + 2, twice
    assert after["looped"] == 6
    # a dry-run computes from the stored values, writes nothing
    t = ok(sem("tally", {"n": 10, "who": "cy"}, "--dry-run"))
    assert step(t, "bump")["output"]["total"] == 15
    t = ok(sem("tally", {"n": 1, "who": "dee"}))
    assert step(t, "bump")["output"]["total"] == 6
