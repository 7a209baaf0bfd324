"""`flowrun serve` life cycle: drain on SIGTERM, reload on SIGHUP, and no
acknowledged delivery lost to kill -9 under load."""

import itertools
import json
import os
import re
import signal
import sqlite3
import threading
import time

from helpers import CONNECTORS, add_accounts, flow_file, messages_of, requests_of
from serving import hmac_hex, http_request, store_path, store_query, wait_for

SERVE_FLOWS = flow_file("serve")
HOOK_SECRET = "e2e-serve-hook-S3cret"  # flows/serve.yaml: hook_secret's default


def start(serve, progix, slack, *more):
    return serve(SERVE_FLOWS, "--connectors", CONNECTORS,
                 "--set", "progix_url=" + progix.url,
                 "--set", "slack_url=" + slack.url, *more)


def show(run, ident):
    r = run("show", ident, "--json")
    return r.json() if r.rc == 0 else None


def accepted(r):
    assert r.status == 202, r
    return r.json()["execution"]


def account_gets(progix, ident):
    return [q for q in requests_of(progix)
            if q["method"] == "GET" and q["path"] == "/accounts/" + ident]


# -- SIGTERM ------------------------------------------------------------------------

def test_sigterm_drains(run, serve, progix, slack, base_env):
    a1, a2 = add_accounts(progix, {"name": "Slow"}, {"name": "Queued"})
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + a1,
                                 "delay": 3, "count": 1})
    srv = start(serve, progix, slack, "--workers", "1", "--grace", "20s")
    running = accepted(srv.post("/hooks/e2e-serve/slow", {"id": a1}))
    wait_for(lambda: account_gets(progix, a1), 5, "the slow execution to start")
    queued = accepted(srv.post("/hooks/e2e-serve/slow", {"id": a2}))

    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    wait_for(lambda: srv.get("/readyz").status == 503, 2, "readyz to answer 503")
    r = srv.post("/hooks/e2e-serve/echo", {"a": 1})
    assert r.status == 503, r
    assert r.json().get("error"), r
    assert r.headers.get("retry-after") == "5", r
    assert srv.get("/healthz").status == 200
    # the slow execution is still running: serve waits for it
    assert srv.running(), srv.log()
    assert srv.wait(15) == 0, srv.log()
    took = time.monotonic() - t0
    assert took >= 1.5, "exited %.2f s after SIGTERM, before the slow execution " \
        "(3 s) could finish" % took

    ex = show(run, running)
    assert ex and ex["status"] == "ok", (ex, srv.log())
    assert [q["status"] for q in account_gets(progix, a1)] == [200]
    # the queued one did not run, and is still queued in the store
    assert account_gets(progix, a2) == []
    assert store_query(base_env, "SELECT status FROM deliveries WHERE id = ?",
                       queued) == [("queued",)]

    # ... and runs after a restart
    srv2 = start(serve, progix, slack)
    wait_for(lambda: (show(run, queued) or {}).get("status") == "ok", 10,
             "the queued delivery to run after restart; log:\n" + srv2.log())
    assert [q["status"] for q in account_gets(progix, a2)] == [200]
    assert [q["status"] for q in account_gets(progix, a1)] == [200]  # not again
    assert srv2.stop() == 0


def test_sigterm_answers_waiting_sync_requests_503(serve, progix, slack):
    # flowrun(1) SIGNALS: once the running executions have ended, "requests
    # of sync flows still waiting are answered 503 (the delivery is stored
    # and runs after restart)"
    a1, a2 = add_accounts(progix, {"name": "Running"}, {"name": "Waiting"})
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + a1,
                                 "delay": 1, "count": 1})
    srv = start(serve, progix, slack, "--workers", "1")
    answers = {}

    def post(k, acc):
        try:
            answers[k] = srv.post("/hooks/e2e-serve/sync_slow", {"id": acc},
                                  timeout=20)
        except OSError as e:  # closed without an answer
            answers[k] = e
    running = threading.Thread(target=post, args=("running", a1))
    running.start()
    wait_for(lambda: account_gets(progix, a1), 5, "the running execution")
    waiting = [threading.Thread(target=post, args=(k, a2)) for k in range(6)]
    for t in waiting:
        t.start()
    wait_for(lambda: "flowrun_queue_depth 6" in srv.get("/metrics").text(), 5,
             "six sync requests queued")
    srv.signal(signal.SIGTERM)
    for t in [running] + waiting:
        t.join(20)
    assert srv.wait(10) == 0, srv.log()
    r = answers["running"]
    assert not isinstance(r, Exception) and r.status == 200, r
    assert r.json() == {"name": "Running"}
    bad = {k: v for k, v in answers.items() if k != "running" and (
        isinstance(v, Exception) or v.status != 503 or
        v.headers.get("retry-after") != "5" or not v.json().get("error"))}
    assert not bad, "sync requests waiting at the drain, not answered 503: %r" % bad
    # stored: they run after a restart
    start(serve, progix, slack)
    wait_for(lambda: len(account_gets(progix, a2)) >= 6, 10,
             "the six stored sync deliveries to run after restart")


def test_sigterm_grace_over_the_execution_runs_again_after_restart(
        run, serve, progix, slack, base_env):
    (acc,) = add_accounts(progix, {"name": "Slower"})
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + acc,
                                 "delay": 4, "count": 1})
    srv = start(serve, progix, slack, "--grace", "500ms")
    ident = accepted(srv.post("/hooks/e2e-serve/slow", {"id": acc}))
    wait_for(lambda: account_gets(progix, acc), 5, "the slow execution to start")
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait(5) == 0, srv.log()
    assert time.monotonic() - t0 < 3, "the grace period (500ms) was not kept"
    assert "still running" in srv.log(), srv.log()
    # still claimed by the process that stopped: the claim's lease runs
    # out, or (SQLite) the next serve on the file takes it at once
    assert store_query(base_env, "SELECT status FROM deliveries WHERE id = ?",
                       ident) == [("running",)]
    # at least once: it runs again after restart, under the same id
    srv2 = start(serve, progix, slack)
    wait_for(lambda: (show(run, ident) or {}).get("status") == "ok", 10,
             "the interrupted execution to run again; log:\n" + srv2.log())
    assert len(account_gets(progix, acc)) == 2


def test_queue_over_its_bound_503(serve, progix, slack):
    a1, a2 = add_accounts(progix, {"name": "Slow"}, {"name": "Next"})
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + a1,
                                 "delay": 120, "count": 1})
    srv = start(serve, progix, slack, "--workers", "1", "--queue-limit", "1")
    accepted(srv.post("/hooks/e2e-serve/slow", {"id": a1}))
    wait_for(lambda: account_gets(progix, a1), 30, "the slow execution to start")
    accepted(srv.post("/hooks/e2e-serve/slow", {"id": a2}))       # queued: 1
    r = srv.post("/hooks/e2e-serve/slow", {"id": a2})
    assert r.status == 503, r
    assert r.json().get("error") and r.headers.get("retry-after") == "5", r
    assert srv.get("/readyz").status == 200
    progix.post("/_admin/release", {})      # the slow one ends, the queue drains
    wait_for(lambda: len(account_gets(progix, a2)) >= 1, 30, "the queued one to run")


def test_sigterm_when_idle_exits_0_at_once(serve, progix, slack):
    srv = start(serve, progix, slack)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait(5) == 0, srv.log()
    assert time.monotonic() - t0 < 3
    assert "stopped" in srv.log()


# -- SIGHUP -------------------------------------------------------------------------

RELOAD = """integration: e2e-reload
flows:
  first:
    trigger: {webhook: }
    steps:
      - transform: '"first"'
"""
SECOND = """  second:
    trigger: {webhook: }
    steps:
      - transform: '"second"'
"""
BROKEN = """  third:
    trigger: {webhook: }
    steps:
      - transform: '.[ '
"""
THIRD = """  third:
    trigger: {webhook: }
    steps:
      - transform: '"third"'
"""


def test_sighup_reloads_and_keeps_the_old_files_when_broken(serve, project, tmp_path):
    flows = project()
    path = os.path.join(flows, "reload.yaml")
    with open(path, "w") as f:
        f.write(RELOAD)
    srv = serve(flows)
    assert srv.post("/hooks/e2e-reload/first", {}).status == 202
    assert srv.post("/hooks/e2e-reload/second", {}).status == 404

    with open(path, "w") as f:
        f.write(RELOAD + SECOND)
    mark = len(srv.log())
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reloaded", after=mark)
    assert srv.post("/hooks/e2e-reload/second", {}).status == 202
    assert srv.post("/hooks/e2e-reload/first", {}).status == 202

    with open(path, "w") as f:
        f.write(RELOAD + SECOND + BROKEN)
    mark = len(srv.log())
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reload failed", after=mark)
    why = srv.log()[mark:]
    # the log says where and why
    assert re.search(r"reload\.yaml:\d+:\d+: error", why), why
    assert srv.running()
    assert srv.get("/readyz").status == 200
    assert srv.post("/hooks/e2e-reload/first", {}).status == 202
    assert srv.post("/hooks/e2e-reload/second", {}).status == 202
    assert srv.post("/hooks/e2e-reload/third", {}).status == 404

    # fixed: the next HUP takes it
    with open(path, "w") as f:
        f.write(RELOAD + SECOND + THIRD)
    mark = len(srv.log())
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reloaded", after=mark)
    assert srv.post("/hooks/e2e-reload/third", {}).status == 202
    assert srv.stop() == 0


def test_sighup_removing_a_flow_stops_its_route(serve, project):
    flows = project()
    path = os.path.join(flows, "reload.yaml")
    with open(path, "w") as f:
        f.write(RELOAD + SECOND)
    srv = serve(flows)
    assert srv.post("/hooks/e2e-reload/second", {}).status == 202
    with open(path, "w") as f:
        f.write(RELOAD)
    mark = len(srv.log())
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reloaded", after=mark)
    assert srv.post("/hooks/e2e-reload/second", {}).status == 404
    assert srv.post("/hooks/e2e-reload/first", {}).status == 202


# -- kill -9 under load ----------------------------------------------------------------

def test_kill_9_under_load_loses_no_acknowledged_delivery(run, serve, progix, slack):
    total, nthreads, kill_after = 300, 8, 100
    srv = start(serve, progix, slack, "--workers", "4")
    port = srv.port
    acked, refused, lock = {}, [], threading.Lock()
    numbers = itertools.count()

    def sender():
        while True:
            with lock:
                n = next(numbers)
            if n >= total:
                return
            body = json.dumps({"n": n, "pad": "x" * 64}).encode()
            headers = {"Content-Type": "application/json",
                       "X-Signature": "sha256=" + hmac_hex(HOOK_SECRET, body)}
            try:
                r = http_request(port, "POST", "/hooks/e2e-serve/load", body,
                                 headers, timeout=10)
            except OSError:
                with lock:
                    refused.append(n)
                continue
            with lock:
                if 200 <= r.status < 300:
                    acked[n] = r.json()["execution"]
                else:
                    refused.append(n)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(nthreads)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= kill_after or not any(t.is_alive() for t in threads),
             30, "%d acknowledged deliveries" % kill_after, interval=0.005)
    srv.kill()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    executed_before = len(messages_of(slack))
    assert len(acked) >= kill_after, (len(acked), refused[:10])
    db = sqlite3.connect(store_path(srv.env), timeout=10)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()

    srv2 = start(serve, progix, slack, "--workers", "4")

    def missing():
        texts = {m["text"] for m in messages_of(slack)}
        return [n for n in acked if "load %d" % n not in texts]
    try:
        wait_for(lambda: not missing(), 30,
                 "every acknowledged delivery to run after restart")
    except AssertionError:
        raise AssertionError(
            "%d of %d acknowledged deliveries never ran (e.g. %s); %d had run "
            "before kill -9; log after restart:\n%s"
            % (len(missing()), len(acked), sorted(missing())[:10],
               executed_before, srv2.log()[-3000:])) from None
    texts = [m["text"] for m in messages_of(slack)]
    assert all(re.fullmatch(r"load \d+", t) and int(t.split()[1]) < total
               for t in texts), texts[:10]
    # every acknowledged execution is recorded as done, under the id it was given
    wait_for(lambda: all((show(run, i) or {}).get("status") == "ok"
                         for i in list(acked.values())[:20]), 10,
             "the executions to be recorded")
    assert srv2.stop() == 0
