"""HTTP retries (connector policy, Retry-After), HTTP errors, on_error."""

import json

from helpers import (CONNECTORS, account_input, add_accounts, example_args,
                     flow_file, messages_of, requests_of, step)

ACME = {"name": "Acme", "contact": "Ada", "email": "ada@acme.test"}


def fail(standin, **spec):
    standin.post("/_admin/fail", spec)


def run_errors(run, progix, flow, *more, **kw):
    return run("run", flow_file("errors"), "--connectors", CONNECTORS,
               "--set", "progix_url=" + progix.url, "--flow", flow, *more, **kw)


# -- the connector's retry policy ---------------------------------------------

def test_429_and_503_are_retried_honouring_retry_after(run, progix, slack):
    ids = add_accounts(progix, ACME)
    fail(progix, method="GET", path="/accounts", status=429, count=1, retry_after=1)
    fail(progix, method="GET", path="/accounts", status=503, count=1)
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), "--json")
    assert r.rc == 0, r
    reqs = [q for q in requests_of(progix) if q["path"] == "/accounts"]
    assert [q["status"] for q in reqs] == [429, 503, 200], reqs
    gap1 = reqs[1]["time"] - reqs[0]["time"]
    gap2 = reqs[2]["time"] - reqs[1]["time"]
    # Retry-After: 1 beats the connector's 200 ms first delay
    assert gap1 >= 0.95, "Retry-After: 1 not honoured: gap %.3f s" % gap1
    # then the connector's backoff: 200 ms * 2.0
    assert 0.35 <= gap2 < 0.95, "second retry after %.3f s" % gap2
    assert [m["text"] for m in messages_of(slack)] == [
        "New account Acme (Ada <ada@acme.test>)"]
    collect = step(r.json(), "collect")
    assert [h["status"] for h in collect["http"]] == [429, 503, 200]
    assert collect["status"] == "ok"


def test_retries_give_up_after_the_connectors_attempts(run, progix, slack):
    ids = add_accounts(progix, ACME)
    fail(progix, method="GET", path="/accounts", status=503, count=-1)
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids))
    assert r.rc == 1, r
    reqs = [q for q in requests_of(progix) if q["path"] == "/accounts"]
    assert len(reqs) == 4, reqs  # progix.yaml: retry.attempts 4
    assert "503" in r.stderr
    assert requests_of(slack) == []


def test_persistent_500_fails_naming_step_method_url_status(run, progix, slack):
    ids = add_accounts(progix, ACME)
    fail(progix, method="GET", path="/accounts", status=500, count=-1,
         body={"error": "database on fire"})
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids))
    assert r.rc == 1, r
    # 500 is not in retry.on: one request
    assert len(requests_of(progix)) == 1
    err = r.stderr
    assert "collect" in err, err
    assert "GET" in err, err
    assert progix.url + "/accounts" in err, err
    assert "500" in err, err
    assert "database on fire" in err, err  # the first part of the body
    assert requests_of(slack) == [] and messages_of(slack) == []


def test_persistent_500_json_trace(run, progix, slack):
    ids = add_accounts(progix, ACME)
    fail(progix, method="GET", path="/accounts", status=500, count=-1)
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), "--json")
    assert r.rc == 1, r
    t = r.json()
    assert t["status"] == "failed"
    for part in ("collect", "GET", progix.url + "/accounts", "500"):
        assert part in t["error"], t["error"]
    collect = step(t, "collect")
    assert collect["status"] == "failed"
    assert [h["status"] for h in collect["http"]] == [500]
    assert "500" in collect["error"]


def test_write_is_not_retried(run, progix):
    # progix.yaml retries 503, but create_webhook is a write without
    # retry.writes or an Idempotency-Key: one attempt only
    fail(progix, method="POST", path="/webhooks", status=503, count=1)
    r = run_errors(run, progix, "write_once")
    assert r.rc == 1, r
    assert [q["method"] for q in requests_of(progix)] == ["POST"]
    assert "503" in r.stderr
    assert progix.get("/_admin/webhooks")["webhooks"] == []


# -- on_error ---------------------------------------------------------------

def test_on_error_ignore(run, progix):
    r = run_errors(run, progix, "ignore", "--input", '{"id": "acc_404"}', "--json")
    assert r.rc == 0, r
    t = r.json()
    assert t["status"] == "ok" and t["error"] is None
    missing = step(t, "missing")
    assert missing["status"] == "ignored"
    assert "404" in missing["error"]
    assert list(missing["output"]) == ["error"]
    assert "404" in missing["output"]["error"]
    after = step(t, "after")
    assert after["status"] == "ok"
    assert after["output"] == {"seen": missing["output"]}


def test_on_error_ignore_when_it_works(run, progix):
    ids = add_accounts(progix, ACME)
    r = run_errors(run, progix, "ignore", "--input", json.dumps({"id": ids[0]}),
                   "--json")
    assert r.rc == 0, r
    t = r.json()
    assert step(t, "missing")["status"] == "ok"
    assert step(t, "after")["output"]["seen"]["name"] == "Acme"


def test_on_error_retry_succeeds_after_failures(run, progix):
    ids = add_accounts(progix, ACME)
    path = "/accounts/" + ids[0]
    fail(progix, method="GET", path=path, status=500, count=2)
    r = run_errors(run, progix, "retry", "--input", json.dumps({"id": ids[0]}),
                   "--json")
    assert r.rc == 0, r
    reqs = [q for q in requests_of(progix) if q["path"] == path]
    assert [q["status"] for q in reqs] == [500, 500, 200]
    assert all(b["time"] - a["time"] >= 0.09 for a, b in zip(reqs, reqs[1:])), \
        "retry delay of 100ms not kept"
    t = r.json()
    acct = step(t, "acct")
    assert acct["status"] == "ok"
    assert acct["retries"] == 2
    assert step(t, "name")["output"] == "Acme"
    assert t["output"] == "Acme"


def test_on_error_retry_exhausted_fails(run, progix):
    ids = add_accounts(progix, ACME)
    path = "/accounts/" + ids[0]
    fail(progix, method="GET", path=path, status=500, count=5)
    r = run_errors(run, progix, "retry", "--input", json.dumps({"id": ids[0]}))
    assert r.rc == 1, r
    assert len([q for q in requests_of(progix) if q["path"] == path]) == 3
    assert "acct" in r.stderr and "500" in r.stderr


def test_on_error_retry_then_ignore(run, progix):
    fail(progix, method="GET", path="/accounts/acc_1", status=500, count=-1)
    r = run_errors(run, progix, "retry_then_ignore", "--input", '{"id": "acc_1"}',
                   "--json")
    assert r.rc == 0, r
    assert len(requests_of(progix)) == 2
    t = r.json()
    assert step(t, "acct")["status"] == "ignored"
    got = step(t, "after")["output"]["got"]
    assert list(got) == ["error"] and "500" in got["error"]


def test_step_timeout_bounds_a_slow_request(run, progix):
    # The stand-in would answer after 120 s; the run itself may take 60 s
    # (run's own deadline) however busy the machine: only the 1 s step
    # timeout ends it before that.  Whether curl's timeout fired first or
    # the retry was refused for passing it, the error says so.
    ids = add_accounts(progix, ACME)
    fail(progix, method="GET", path="/accounts/" + ids[0], delay=120, count=-1)
    r = run_errors(run, progix, "slow", "--input", json.dumps({"id": ids[0]}),
                   timeout=60)
    assert r.rc == 1, r
    assert "acct" in r.stderr, r
    assert "timed out" in r.stderr or "would pass the timeout" in r.stderr, r
