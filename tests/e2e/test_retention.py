"""Bounded growth: `flowrun prune --older-than` and `serve --retain` remove
the data of executions that ended long ago, and nothing else, on both
backends; /metrics shows the store's size and the age of its oldest data;
stores that keep nothing are refused."""

import json
import os
import re
import subprocess

import pytest

from helpers import CONNECTORS, flow_file
from serving import store_path, wait_for

import sqlite3

SERVE_FLOWS = flow_file("serve")
DAY = 86400.0


def start(serve, *more, env=None):
    return serve(SERVE_FLOWS, "--connectors", CONNECTORS, *more, env=env)


class Store:
    """SQL on the store of a backend, to age rows and read them back."""

    def __init__(self, backend, tmp_path, pg_db=None):
        self.backend = backend
        if backend == "sqlite":
            self.url = "sqlite:%s" % (tmp_path / "store.db")
        else:
            self.url = pg_db

    def sql(self, query):
        if self.backend == "sqlite":
            db = sqlite3.connect(store_path({"FLOWRUN_STORE": self.url}),
                                 timeout=10)
            try:
                rows = db.execute(query).fetchall()
                db.commit()
                return rows
            finally:
                db.close()
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t",
                            "-v", "ON_ERROR_STOP=1", "-d", self.url, "-c", query],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [tuple(None if c == "" else c for c in ln.split("\t"))
                for ln in r.stdout.splitlines() if ln]

    def age(self, ids, days):
        """Moves the executions (and deliveries) ids back by days."""
        quoted = ",".join("'%s'" % i for i in ids)
        d = days * DAY
        self.sql("UPDATE executions SET started_at = started_at - %f, "
                 "finished_at = finished_at - %f WHERE id IN (%s)" % (d, d, quoted))
        self.sql("UPDATE deliveries SET received_at = received_at - %f "
                 "WHERE id IN (%s)" % (d, quoted))

    def holds(self, ident):
        """(input or trace present, delivery body or request present)"""
        e = self.sql("SELECT input IS NOT NULL OR trace IS NOT NULL FROM "
                     "executions WHERE id = '%s'" % ident)
        d = self.sql("SELECT body IS NOT NULL OR request IS NOT NULL FROM "
                     "deliveries WHERE id = '%s'" % ident)
        truth = lambda rows: bool(rows) and rows[0][0] in (1, "t", True)
        return truth(e), truth(d)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return Store("sqlite", tmp_path)
    return Store("postgresql", tmp_path, request.getfixturevalue("pg_db"))


def deliver(srv, n, flow="echo"):
    ids = []
    for i in range(n):
        r = srv.post("/hooks/e2e-serve/" + flow, {"n": i, "secretish": "x%d" % i})
        assert r.status == 202, r
        ids.append(r.json()["execution"])
    return ids


def wait_ok(run, ids, store_url):
    def done():
        r = run("runs", "--json", "--limit", "500", env={"FLOWRUN_STORE": store_url})
        assert r.rc == 0, r
        st = {x["id"]: x["status"] for x in r.json()}
        return all(st.get(i) in ("ok", "failed") for i in ids)
    wait_for(done, 30, "the executions to end")


def test_prune_removes_old_ended_data_and_nothing_else(run, serve, store):
    env = {"FLOWRUN_STORE": store.url}
    srv = start(serve, env=env)
    old, recent = deliver(srv, 3), deliver(srv, 2)
    wait_ok(run, old + recent, store.url)
    # a queued delivery that is old: never pruned
    srv.stop()
    store.age(old, 40)
    queued_id = "ex_0000000000000000000000000001"
    store.sql("INSERT INTO deliveries (id, integration, instance, flow, "
              "received_at, request, body, status) VALUES ('%s', 'e2e-serve', "
              "'default', 'echo', 1000, '{\"method\":\"POST\"}', NULL, 'queued')"
              % queued_id)
    r = run("prune", "--older-than", "30d", "--json", env=env)
    assert r.rc == 0, r
    assert r.json()["executions"] == 3 and r.json()["deliveries"] == 3, r
    for i in old:
        assert store.holds(i) == (False, False), i
    for i in recent:
        assert store.holds(i) == (True, True), i
    assert store.sql("SELECT status, request IS NOT NULL FROM deliveries "
                     "WHERE id = '%s'" % queued_id)[0][0] == "queued"
    # the rows stay: listed and counted, with status and times
    r = run("runs", "--json", "--flow", "echo", env=env)
    listed = {x["id"]: x for x in r.json()}
    assert all(listed[i]["status"] == "ok" for i in old + recent), listed
    # show says what happened; replay refuses
    r = run("show", old[0], env=env)
    assert r.rc == 0 and "removed by retention" in r.stdout, r
    r = run("show", old[0], "--json", env=env)
    assert r.json()["status"] == "ok" and not r.json().get("trace"), r
    r = run("replay", old[0], env=env)
    assert r.rc == 1 and "removed by retention" in r.stderr, r
    # again: nothing more
    r = run("prune", "--older-than", "30d", "--json", env=env)
    assert (r.json()["executions"], r.json()["deliveries"]) == (0, 0), r
    store.sql("DELETE FROM deliveries WHERE id = '%s'" % queued_id)


def test_prune_keeps_running_and_retrying(run, serve, store):
    """An execution still running (or retrying) is never pruned, however
    old."""
    env = {"FLOWRUN_STORE": store.url}
    start(serve, env=env).stop()    # makes the store
    rows = [("ex_00000000000000000000000000a1", "running"),
            ("ex_00000000000000000000000000a2", "retrying"),
            ("ex_00000000000000000000000000a3", "failed")]
    for ident, status in rows:
        store.sql("INSERT INTO executions (id, integration, instance, flow, "
                  "trigger, status, started_at, finished_at, input, trace) "
                  "VALUES ('%s', 'i', 'default', 'f', 'manual', '%s', 1000, "
                  "%s, '{}', '{}')" % (ident, status,
                                       "NULL" if status == "running" else "1001"))
    r = run("prune", "--older-than", "1d", "--json", env=env)
    assert r.json()["executions"] == 1, r
    assert store.holds(rows[0][0])[0] and store.holds(rows[1][0])[0]
    assert not store.holds(rows[2][0])[0]


def test_serve_retain_and_store_metrics(run, serve, store):
    env = {"FLOWRUN_STORE": store.url}
    srv = start(serve, env=env)
    old, recent = deliver(srv, 2), deliver(srv, 1)
    wait_ok(run, old + recent, store.url)
    srv.stop()
    store.age(old, 10)
    srv = start(serve, "--retain", "7d", env=env)
    srv.wait_log(r"retention: removed the input and trace of 2 execution", 30)
    for i in old:
        assert store.holds(i) == (False, False)
    assert store.holds(recent[0]) == (True, True)
    text = srv.get("/metrics").text()
    size = re.search(r"^flowrun_store_bytes (\S+)$", text, re.M)
    age = re.search(r"^flowrun_store_oldest_item_age_seconds (\S+)$", text, re.M)
    assert size and float(size.group(1)) > 0, text
    # the oldest data left is the recent execution's: seconds, not days
    assert age and 0 <= float(age.group(1)) < DAY, text
    assert re.search(r"^flowrun_retention_pruned_total 2$", text, re.M), text


def test_serve_retain_usage(run):
    for bad in ("0d", "10s", "xd", "-1d", "30"):
        r = run("serve", "--retain", bad)
        assert r.rc == 2 and "--retain" in r.stderr, r
    r = run("prune")
    assert r.rc == 2 and "--older-than" in r.stderr, r
    r = run("prune", "--older-than", "2w")
    assert r.rc == 2, r


@pytest.mark.parametrize("url", ["sqlite::memory:", ":memory:",
                                 "sqlite:file::memory:",
                                 "sqlite:file:x.db?mode=memory",
                                 "sqlite:file:x.db?cache=shared&mode=memory",
                                 "sqlite:file:x?vfs=memdb"])
def test_stores_that_keep_nothing_are_refused(run, tmp_path, url):
    for argv in (["serve", SERVE_FLOWS], ["runs"], ["prune", "--older-than", "1d"]):
        r = run(*argv, "--store", url)
        assert r.rc == 2, r
        assert "in memory" in r.stderr and "sqlite:PATH" in r.stderr, r
    # named by FLOWRUN_STORE, the same store is refused by every command
    # that reads one (exit status 5: the store cannot be opened)
    for argv in (["runs"], ["prune", "--older-than", "1d"], ["state"],
                 ["deployments"]):
        r = run(*argv, env={"FLOWRUN_STORE": url})
        assert r.rc == 5, r
        assert "in memory" in r.stderr and "sqlite:PATH" in r.stderr, r
    assert not any(p.name.startswith("file") or "memory" in p.name
                   for p in tmp_path.iterdir()), list(tmp_path.iterdir())


def test_run_killed_with_9_shows_interrupted(run, flowrun_bin, base_env,
                                             tmp_path, store):
    """A `run` killed by -9 while its step waits is `interrupted` (with
    its pid in the error) for runs and show, not running forever; one
    still running is left running."""
    import signal
    import socket
    import time

    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen(8)     # accepts, never answers: the step waits
    env = dict(base_env, FLOWRUN_STORE=store.url)
    argv = [flowrun_bin, "run", SERVE_FLOWS, "--connectors", CONNECTORS,
            "--flow", "slow", "--input", '{"id": "1"}',
            "--set", "progix_url=http://127.0.0.1:%d" % hold.getsockname()[1]]
    procs = [subprocess.Popen(argv, cwd=str(tmp_path), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(2)]
    try:
        def running():
            r = run("runs", "--json", "--status", "running", env=env)
            return r.json() if r.rc == 0 and len(r.json()) == 2 else None
        wait_for(running, 20, "two runs to be running")
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)

        def interrupted():
            r = run("runs", "--json", "--status", "interrupted", env=env)
            return r.json() if r.rc == 0 and r.json() else None
        rows = wait_for(interrupted, 20, "the killed run to be interrupted")
        assert len(rows) == 1, rows
        assert "pid %d" % procs[0].pid in rows[0]["error"], rows
        r = run("runs", "--json", "--status", "running", env=env)
        assert len(r.json()) == 1, r     # the live one stays running
        r = run("show", rows[0]["id"], env=env)
        assert r.rc == 0 and "interrupted" in r.stdout, r
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        hold.close()
