"""Several `flowrun serve` processes on one store: PostgreSQL shared by
two processes (claims, leases, dedupe, fifo, concurrency, schedules, the
database going away), and one SQLite file refused to a second process.

Every PostgreSQL test runs against a real server (tests/pgserver.py) in a
database of its own."""

import itertools
import json
import os
import re
import signal
import threading
import time

from helpers import CONNECTORS, add_accounts, flow_file, messages_of
from serving import http_request, wait_for

CLUSTER = flow_file("cluster")
TICK = flow_file("tick")


def start_on(serve, store, progix, slack, *more, flows=CLUSTER):
    sets = () if flows != CLUSTER else (
        "--set", "progix_url=" + progix.url, "--set", "slack_url=" + slack.url)
    return serve(flows, "--connectors", CONNECTORS, *sets, *more,
                 env={"FLOWRUN_STORE": store})


def accepted(r):
    assert 200 <= r.status < 300, r
    return r.json()["execution"]


def runs_on(run, store, *args):
    r = run("runs", "--json", "--limit", "10000", *args,
            env={"FLOWRUN_STORE": store})
    assert r.rc == 0, r
    return r.json()


def texts(slack, prefix):
    return [m["text"] for m in messages_of(slack) if m["text"].startswith(prefix)]


# -- SQLite: one file, one serve -----------------------------------------------

def test_second_serve_on_one_sqlite_file_is_refused(run, serve, progix, slack,
                                                    tmp_path):
    store = "sqlite:%s" % (tmp_path / "one.db")
    first = start_on(serve, store, progix, slack)
    r = run("serve", CLUSTER, "--listen", "127.0.0.1:0", "--connectors",
            CONNECTORS, env={"FLOWRUN_STORE": store})
    assert r.rc == 5, r
    assert "served already by another flowrun serve" in r.stderr, r
    assert "pid %d" % first.proc.pid in r.stderr, r
    # the store holds traces and tokens: only its owner reads it
    assert os.stat(str(tmp_path / "one.db")).st_mode & 0o777 == 0o600
    # the first goes on serving
    accepted(first.post("/hooks/e2e-cluster/load", {"n": 1}))
    wait_for(lambda: texts(slack, "load 1"), 20, "the first serve to run it")
    # once it is gone, the file can be served again
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0, first.log()
    start_on(serve, store, progix, slack)


# -- PostgreSQL: two processes ------------------------------------------------

def send_load(ports, total, nthreads, acked, refused, lock):
    """Posts deliveries n = 0..total-1 to the ports in turn, from threads."""
    numbers = itertools.count()

    def sender():
        while True:
            with lock:
                n = next(numbers)
            if n >= total:
                return
            body = json.dumps({"n": n}).encode()
            try:
                r = http_request(ports[n % len(ports)](), "POST",
                                 "/hooks/e2e-cluster/load", body,
                                 {"Content-Type": "application/json"}, timeout=10)
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
    return threads


def test_two_processes_kill_9_of_one_loses_nothing(run, serve, progix, slack, pg_db):
    a = start_on(serve, pg_db, progix, slack, "--lease", "2s")
    b = start_on(serve, pg_db, progix, slack, "--lease", "2s")
    acked, refused, lock = {}, [], threading.Lock()
    alive = {"a": True}

    def port_a():
        return a.port if alive["a"] else b.port

    threads = send_load([port_a, lambda: b.port], 400, 8, acked, refused, lock)
    wait_for(lambda: len(acked) >= 120 or not any(t.is_alive() for t in threads),
             60, "120 acknowledged deliveries", interval=0.005)
    a.kill()            # kill -9: its claims stay until their leases run out
    alive["a"] = False
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert len(acked) >= 120, (len(acked), refused[:10])

    def missing():
        got = set(texts(slack, "load "))
        return [n for n in acked if "load %d" % n not in got]
    try:
        wait_for(lambda: not missing(), 60, "every acknowledged delivery to run")
    except AssertionError:
        raise AssertionError("%d of %d acknowledged deliveries never ran (e.g. %s);"
                             " survivor's log:\n%s" % (len(missing()), len(acked),
                                                       sorted(missing())[:10],
                                                       b.log()[-3000:])) from None
    # both processes ran some; every execution is recorded once, ok
    rows = [x for x in runs_on(run, pg_db, "--flow", "load")]
    ids = [x["id"] for x in rows]
    assert len(ids) == len(set(ids))
    for n, ident in acked.items():
        assert ident in ids, (n, ident)
    wait_for(lambda: all(x["status"] == "ok" for x in
                         runs_on(run, pg_db, "--flow", "load")), 30,
             "every execution recorded ok")


def test_dedupe_holds_across_processes(run, serve, progix, slack, pg_db):
    a = start_on(serve, pg_db, progix, slack)
    b = start_on(serve, pg_db, progix, slack)
    first = accepted(a.post("/hooks/e2e-cluster/dedupe", {"id": "k1"}))
    r = b.post("/hooks/e2e-cluster/dedupe", {"id": "k1"})
    assert r.status == 200 and r.json() == {"execution": first, "duplicate": True}, r
    r = a.post("/hooks/e2e-cluster/dedupe", {"id": "k1"})
    assert r.status == 200 and r.json()["execution"] == first, r
    accepted(b.post("/hooks/e2e-cluster/dedupe", {"id": "k2"}))
    wait_for(lambda: len(texts(slack, "dedupe ")) >= 2, 20, "two messages")
    time.sleep(0.5)     # no third message comes (nothing else was queued)
    assert sorted(texts(slack, "dedupe ")) == ["dedupe k1", "dedupe k2"]


def test_fifo_order_holds_across_processes(serve, progix, slack, pg_db):
    a = start_on(serve, pg_db, progix, slack)
    b = start_on(serve, pg_db, progix, slack)
    # arrival order is commit order: each is acknowledged before the next
    for n in range(20):
        accepted((a if n % 2 else b).post("/hooks/e2e-cluster/ordered", {"n": n}))
    wait_for(lambda: len(texts(slack, "ordered ")) >= 20, 60, "20 messages")
    assert texts(slack, "ordered ") == ["ordered %d" % n for n in range(20)]


def test_concurrency_1_holds_across_processes(run, serve, progix, slack, pg_db):
    ids = add_accounts(progix, *({"name": "A%d" % i} for i in range(8)))
    for ident in ids:   # each answer takes 0.3 s
        progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + ident,
                                     "delay": 0.3, "count": 1})
    a = start_on(serve, pg_db, progix, slack, "--workers", "4")
    b = start_on(serve, pg_db, progix, slack, "--workers", "4")
    for i, ident in enumerate(ids):
        accepted((a if i % 2 else b).post("/hooks/e2e-cluster/serial", {"id": ident}))
    wait_for(lambda: len([x for x in runs_on(run, pg_db, "--flow", "serial",
                                             "--status", "ok")]) == 8,
             60, "eight executions ok")
    got = progix.get("/_admin/inflight")
    assert got["max"] == 1, got


def test_update_counts_every_delivery_across_processes(run, serve, progix, slack,
                                                       pg_db):
    a = start_on(serve, pg_db, progix, slack, "--workers", "4")
    b = start_on(serve, pg_db, progix, slack, "--workers", "4")
    total = 200
    acked, lock = [], threading.Lock()

    def sender(k):
        for n in range(k, total, 8):
            r = (a if n % 2 else b).post("/hooks/e2e-cluster/count", {"n": n})
            with lock:
                acked.append(accepted(r))
    threads = [threading.Thread(target=sender, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(acked) == total
    wait_for(lambda: len(runs_on(run, pg_db, "--flow", "count", "--status",
                                 "ok")) == total, 90, "every count ok")
    r = run("run", CLUSTER, "--connectors", CONNECTORS, "--flow", "peek",
            "--json", env={"FLOWRUN_STORE": pg_db})
    assert r.rc == 0, r
    assert r.json()["output"] == total, r.json()


def test_schedule_fires_once_per_slot_across_processes(run, serve, progix, slack,
                                                        pg_db):
    a = start_on(serve, pg_db, progix, slack, flows=TICK)
    b = start_on(serve, pg_db, progix, slack, flows=TICK)
    # a per-minute schedule: wait for two slots to pass (up to ~2 minutes)
    wait_for(lambda: len(runs_on(run, pg_db, "--flow", "tick",
                                 "--status", "ok")) >= 2, 150,
             "two scheduled runs", interval=0.5)
    rows = runs_on(run, pg_db, "--flow", "tick")
    slots = [json.loads(json.dumps(x)) for x in rows]
    fired = []
    for x in slots:
        r = run("show", x["id"], "--json", env={"FLOWRUN_STORE": pg_db})
        assert r.rc == 0, r
        fired.append(r.json()["input"]["fired_at"])
    assert len(fired) == len(set(fired)), \
        "a slot fired twice: %s\n%s\n%s" % (sorted(fired), a.log(), b.log())
    for f in fired:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z", f), fired


def test_cli_on_postgresql(run, serve, progix, slack, pg_db):
    a = start_on(serve, pg_db, progix, slack)
    ident = accepted(a.post("/hooks/e2e-cluster/load", {"n": 7}))
    wait_for(lambda: [x for x in runs_on(run, pg_db) if x["id"] == ident and
                      x["status"] == "ok"], 20, "the execution in runs")
    env = {"FLOWRUN_STORE": pg_db}
    r = run("show", ident[:12], "--json", env=env)   # a unique prefix
    assert r.rc == 0, r
    assert r.json()["id"] == ident and r.json()["origin"] == "serve"
    r = run("replay", ident, "--json", env=env)
    assert r.rc == 0, r
    (entry,) = r.json()
    wait_for(lambda: texts(slack, "load 7")[1:], 20, "the replay to run")
    rows = {x["id"]: x for x in runs_on(run, pg_db)}
    assert rows[entry["replay"]]["origin"] == "replay"
    assert rows[entry["replay"]]["replay_of"] == ident
    # the store's URL is never shown with its password
    r = run("runs", "--store", pg_db.replace("postgres@", "postgres:hunter2@"),
            env=env)
    assert "hunter2" not in r.stdout + r.stderr, r


def test_database_stopped_and_started_under_load(run, serve, progix, slack,
                                                 pg_own_server):
    store = pg_own_server.create_database("load")
    a = start_on(serve, store, progix, slack)
    acked, refused, lock = {}, [], threading.Lock()
    threads = send_load([lambda: a.port], 300, 4, acked, refused, lock)
    wait_for(lambda: len(acked) >= 50, 60, "50 acknowledged deliveries",
             interval=0.005)
    pg_own_server.pause()
    # while it cannot store, it acknowledges nothing and is not ready
    wait_for(lambda: a.get("/readyz").status == 503, 30, "readyz 503")
    with lock:
        before = len(acked)
    r = a.post("/hooks/e2e-cluster/load", {"n": -1})
    assert r.status == 503 and r.headers.get("retry-after"), r
    pg_own_server.resume()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads)
    wait_for(lambda: a.get("/readyz").status == 200, 60, "readyz 200 again")
    accepted(a.post("/hooks/e2e-cluster/load", {"n": 1000}))
    assert len(acked) >= before

    def missing():
        got = set(texts(slack, "load "))
        return [n for n in list(acked) + [1000] if "load %d" % n not in got]
    wait_for(lambda: not missing(), 60,
             "every acknowledged delivery to run; log:\n" + a.log()[-2000:])


def test_history_options_are_checked(run, pg_db):
    for args in (["runs", "--status", "bogus"], ["runs", "--origin", "cron"],
                 ["runs", "--since", "yesterday-ish"],
                 ["replay", "--failed", "--origin", "cron"],
                 ["runs", "--store", "mysql://x/y"]):
        r = run(*args)
        assert r.rc == 2, r
        assert "see 'flowrun" in r.stderr, r
    # a store that cannot be reached is a store error, its password hidden
    r = run("runs", "--store", "postgresql://u:pw-S3cret@127.0.0.1:1/db")
    assert r.rc == 5, r
    assert "pw-S3cret" not in r.stdout + r.stderr and "u:***@" in r.stderr, r
    # every status word is taken
    for status in ("queued", "running", "retrying", "ok", "failed"):
        r = run("runs", "--status", status, env={"FLOWRUN_STORE": pg_db})
        assert r.rc == 0, r


def test_runs_follow_sees_what_serve_starts_after_it(run, serve, progix, slack,
                                                      flowrun_bin, base_env,
                                                      tmp_path, pg_db):
    import subprocess
    env = dict(base_env, FLOWRUN_STORE=pg_db)
    a = start_on(serve, pg_db, progix, slack)
    # --since: however late the follower starts, it sees the execution
    follower = subprocess.Popen([flowrun_bin, "runs", "--follow", "--json",
                                 "--since", "10m"],
                                cwd=str(tmp_path), env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ident = accepted(a.post("/hooks/e2e-cluster/load", {"n": 99}))
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            if not line:
                break
            x = json.loads(line)
            seen.append((x["id"], x["status"]))
            if (ident, "ok") in seen:
                break
        assert (ident, "ok") in seen, seen
    finally:
        follower.send_signal(signal.SIGINT)
        rc = follower.wait(10)
    assert rc == 0, follower.stderr.read()
