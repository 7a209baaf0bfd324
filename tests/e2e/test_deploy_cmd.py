"""`flowrun deploy` / `undeploy` (for CI), and what the store keeps of them:
`runs` and `show`.  Against the Progix stand-in (page size 2)."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import time

from helpers import (API_KEY, EXAMPLE, OUR_HOOK, PUBLIC_URL, SECRETS,
                     register_webhook, requests_of)
from serving import store_path, store_query, wait_for


def deploy(run, progix, *more, cmd="deploy", path=EXAMPLE, public=PUBLIC_URL,
           **kw):
    return run(cmd, path, "--set", "progix_url=" + progix.url,
               "--public-url", public, *more, **kw)


def hooks(progix):
    return progix.get("/_admin/webhooks")["webhooks"]


def ours(progix, url=OUR_HOOK):
    return [h for h in hooks(progix) if h["url"] == url]


def writes(progix):
    return [q for q in requests_of(progix) if q["method"] not in ("GET", "HEAD")]


def runs(run, *args):
    r = run("runs", "--json", *args)
    assert r.rc == 0, r
    return r.json()


def assert_no_secret(text):
    for s in SECRETS:
        assert s not in text, "secret %r in output:\n%s" % (s, text)


# -- idempotence ------------------------------------------------------------

def test_deploy_twice_one_webhook(run, progix):
    r = deploy(run, progix)
    assert r.rc == 0, r
    assert "progix-to-slack/default: ok" in r.stdout, r
    r = deploy(run, progix)
    assert r.rc == 0, r
    assert [h["url"] for h in hooks(progix)] == [OUR_HOOK]
    assert [(q["method"], q["path"]) for q in writes(progix)] == [("POST", "/webhooks")]


def test_deploy_twice_when_the_list_spans_pages(run, progix):
    # page size 2: ours is created after five others, so it is on page 3
    for i in range(5):
        register_webhook(progix, "http://other.test/hook/%d" % i)
    for _ in range(2):
        r = deploy(run, progix)
        assert r.rc == 0, r
    assert len(ours(progix)) == 1, hooks(progix)
    assert len(hooks(progix)) == 6
    assert len(writes(progix)) == 5 + 1
    # the second deploy read all three pages
    gets = [q for q in requests_of(progix) if q["method"] == "GET"]
    assert len(gets) == 3 + 3, gets


# -- failures -----------------------------------------------------------------

def test_failing_deploy_exits_1_and_is_recorded(run, progix):
    progix.post("/_admin/fail", {"method": "POST", "path": "/webhooks",
                                 "status": 500, "count": -1})
    r = deploy(run, progix)
    assert r.rc == 1, r
    assert "failed" in r.stdout, r
    assert "500" in r.stdout + r.stderr, r
    assert hooks(progix) == []

    failed = runs(run, "--status", "failed")
    assert len(failed) == 1, failed
    assert failed[0]["flow"] == "deploy" and failed[0]["status"] == "failed"
    assert failed[0]["instance"] == "default"
    assert "create" in failed[0]["error"] and "500" in failed[0]["error"], failed

    r = deploy(run, progix, "--json")
    assert r.rc == 1, r
    doc = r.json()
    assert doc["ok"] is False
    (dep,) = doc["deployments"]
    assert dep["outcome"] == "failed", dep
    (f,) = dep["flows"]
    assert f["flow"] == "deploy" and f["status"] == "failed"
    assert "500" in f["error"]
    # the execution named in the report is the one recorded as failed
    ids = [x["id"] for x in runs(run, "--status", "failed")]
    assert f["execution"] in ids and len(ids) == 2, (f, ids)


def test_missing_secret_exits_4_before_any_request(run, progix):
    r = deploy(run, progix, unset=["PROGIX_API_KEY"])
    assert r.rc == 4, r
    assert "progix_api_key" in r.stderr and "PROGIX_API_KEY" in r.stderr, r
    assert requests_of(progix) == []
    assert hooks(progix) == []


def test_invalid_files_exit_3_before_any_request(run, progix, project):
    flows = project(EXAMPLE)
    path = flows + "/progix-to-slack.yaml"
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("action: progix.list_webhooks",
                             "action: progix.list_webhookz", 1))
    r = deploy(run, progix, path=flows)
    assert r.rc == 3, r
    assert "list_webhookz" in r.stderr and "nothing was deployed" in r.stderr, r
    assert requests_of(progix) == []


def test_instance_and_all_instances_exclude_each_other(run, progix):
    r = deploy(run, progix, "--instance", "a", "--all-instances")
    assert r.rc == 2, r
    assert requests_of(progix) == []


# -- dry-run --------------------------------------------------------------------

def test_dry_run_sends_no_write_and_shows_it(run, progix):
    r = deploy(run, progix, "--dry-run")
    assert r.rc == 0, r
    assert [(q["method"], q["path"]) for q in requests_of(progix)] == \
        [("GET", "/webhooks")]
    assert hooks(progix) == []
    out = r.stdout
    assert "POST %s/webhooks" % progix.url in out, out
    m = re.search(r"POST %s/webhooks\n(.*?)\n\s*(dry-run|ok) " % re.escape(progix.url),
                  out, re.S)
    assert m, out
    shown = m.group(1)
    assert '"url": "%s"' % OUR_HOOK in shown, shown
    assert '"account.created"' in shown, shown
    assert "Authorization: ***" in shown, shown
    assert "1 not sent (dry-run)" in out, out
    assert_no_secret(out + r.stderr)


def test_dry_run_json_counts_the_write_not_sent(run, progix):
    r = deploy(run, progix, "--dry-run", "--json")
    assert r.rc == 0, r
    doc = r.json()
    assert doc["ok"] is True and doc["dry_run"] is True
    (dep,) = doc["deployments"]
    assert dep["dry_run"] is True
    (f,) = dep["flows"]
    assert f["writes_sent"] == 0 and f["writes_skipped"] == 1 and f["requests"] == 1
    assert writes(progix) == []


def test_dry_run_records_nothing(run, progix, base_env):
    # cli.md: "A dry-run records no execution unless asked"; nor a deployment
    assert deploy(run, progix).rc == 0           # a store with one deployment
    before = runs(run)
    r = deploy(run, progix, "--dry-run", "--json")
    assert r.rc == 0, r
    assert runs(run) == before, "deploy --dry-run recorded an execution"
    assert store_query(base_env, "SELECT count(*) FROM deployments") == [(1,)]
    # and without a store, a dry-run does not create one
    other = dict(base_env)
    other["FLOWRUN_STORE"] = "sqlite:" + store_path(base_env) + ".none"
    r = deploy(run, progix, "--dry-run", env=other)
    assert r.rc == 0, r
    assert not os.path.exists(store_path(other))


# -- undeploy -------------------------------------------------------------------

def test_undeploy_removes_only_our_webhook(run, progix):
    register_webhook(progix, "http://other.test/hook/0")
    assert deploy(run, progix).rc == 0
    assert len(ours(progix)) == 1
    r = deploy(run, progix, cmd="undeploy")
    assert r.rc == 0, r
    assert ours(progix) == []
    assert [h["url"] for h in hooks(progix)] == ["http://other.test/hook/0"]
    deletes = [q for q in requests_of(progix) if q["method"] == "DELETE"]
    assert len(deletes) == 1, deletes
    # again: nothing left to remove, still a success, no DELETE sent
    r = deploy(run, progix, cmd="undeploy")
    assert r.rc == 0, r
    assert len([q for q in requests_of(progix) if q["method"] == "DELETE"]) == 1
    assert [x["flow"] for x in runs(run, "--flow", "remove")] == ["remove", "remove"]


# -- instances ------------------------------------------------------------------

INSTANCE = """instance: %s
integration: progix-to-slack
config:
  slack_channel: "%s"
"""


def test_all_instances_deploys_each(run, progix, project):
    flows = project(EXAMPLE, instances={
        "acme": INSTANCE % ("acme", "#newaccount"),
        "globex": INSTANCE % ("globex", "#general")})
    r = deploy(run, progix, "--all-instances", "--json", path=flows)
    assert r.rc == 0, r
    doc = r.json()
    assert doc["ok"] is True
    assert sorted(d["instance"] for d in doc["deployments"]) == ["acme", "globex"]
    assert all(d["outcome"] == "ok" for d in doc["deployments"])
    want = sorted(PUBLIC_URL + "/hooks/%s/progix-to-slack/account" % i
                  for i in ("acme", "globex"))
    assert sorted(h["url"] for h in hooks(progix)) == want
    # again: nothing new
    r = deploy(run, progix, "--all-instances", path=flows)
    assert r.rc == 0, r
    assert sorted(h["url"] for h in hooks(progix)) == want
    assert "progix-to-slack/acme: ok" in r.stdout and \
        "progix-to-slack/globex: ok" in r.stdout, r
    # the executions are recorded per instance
    assert sorted(x["instance"] for x in runs(run)) == \
        ["acme", "acme", "globex", "globex"]
    # undeploy of one instance leaves the other
    r = deploy(run, progix, "--instance", "acme", cmd="undeploy", path=flows)
    assert r.rc == 0, r
    assert [h["url"] for h in hooks(progix)] == [want[1]]


def test_unknown_instance_exits_4(run, progix, project):
    flows = project(EXAMPLE, instances={"acme": INSTANCE % ("acme", "#general")})
    r = deploy(run, progix, "--instance", "nope", path=flows)
    assert r.rc == 4, r
    assert "nope" in r.stderr, r
    assert requests_of(progix) == []


# -- --json -----------------------------------------------------------------------

def test_json_document_shape(run, progix):
    r = deploy(run, progix, "--json")
    assert r.rc == 0, r
    doc = json.loads(r.stdout)  # one document, nothing else on stdout
    assert set(doc) == {"ok", "dry_run", "deployments"}
    assert doc["ok"] is True and doc["dry_run"] is False
    (dep,) = doc["deployments"]
    assert set(dep) >= {"integration", "instance", "file_hash", "outcome",
                        "started_at", "finished_at", "dry_run", "flows"}, dep
    assert dep["integration"] == "progix-to-slack" and dep["instance"] == "default"
    assert re.fullmatch(r"[0-9a-f]{64}", dep["file_hash"]), dep
    assert dep["outcome"] == "ok" and dep["dry_run"] is False
    assert dep["started_at"] <= dep["finished_at"]
    assert abs(dep["started_at"] - time.time()) < 60
    (f,) = dep["flows"]
    assert set(f) >= {"flow", "execution", "status", "error", "requests",
                      "writes_sent", "writes_skipped", "duration_ms"}, f
    assert f["flow"] == "deploy" and f["status"] == "ok" and f["error"] is None
    assert f["requests"] == 2 and f["writes_sent"] == 1 and f["writes_skipped"] == 0
    assert f["duration_ms"] > 0
    # the same execution, in the store
    s = run("show", f["execution"], "--json")
    assert s.rc == 0, s
    assert s.json()["status"] == "ok"
    assert_no_secret(r.stdout + r.stderr)


# -- runs and show ------------------------------------------------------------

def test_runs_filters_and_order(run, progix):
    assert deploy(run, progix).rc == 0                      # deploy ok
    assert deploy(run, progix, cmd="undeploy").rc == 0      # remove ok
    progix.post("/_admin/fail", {"method": "POST", "path": "/webhooks",
                                 "status": 500, "count": -1})
    assert deploy(run, progix).rc == 1                      # deploy failed

    everything = runs(run)
    assert [(x["flow"], x["status"]) for x in everything] == [
        ("deploy", "failed"), ("remove", "ok"), ("deploy", "ok")], everything
    for x in everything:
        assert re.fullmatch(r"ex_[0-9a-f]+", x["id"]), x
        assert x["integration"] == "progix-to-slack" and x["instance"] == "default"
        assert x["trigger"] in ("deploy", "remove")
    assert [x["started_at"] for x in everything] == \
        sorted((x["started_at"] for x in everything), reverse=True)

    assert [x["status"] for x in runs(run, "--flow", "deploy")] == ["failed", "ok"]
    assert [x["flow"] for x in runs(run, "--flow", "progix-to-slack/remove")] == ["remove"]
    assert runs(run, "--flow", "nope") == []
    assert [x["flow"] for x in runs(run, "--status", "failed")] == ["deploy"]
    assert [x["flow"] for x in runs(run, "--status", "ok")] == ["remove", "deploy"]
    assert runs(run, "--limit", "1") == everything[:1]
    assert runs(run, "--limit", "2") == everything[:2]
    assert [x["id"] for x in runs(run, "--flow", "deploy", "--status", "ok")] == \
        [everything[2]["id"]]

    # text: one line per execution, newest first
    r = run("runs")
    assert r.rc == 0, r
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3, r
    for line, x in zip(lines, everything):
        assert line.startswith(x["id"]), (line, x)
        assert x["status"] in line and "progix-to-slack/" + x["flow"] in line
        assert "default" in line
    assert "500" in lines[0]  # the error of the failed one
    r = run("runs", "--limit", "0")
    assert r.rc == 2, r


def test_show_text_and_json(run, progix):
    r = deploy(run, progix, "--json")
    assert r.rc == 0, r
    ident = r.json()["deployments"][0]["flows"][0]["execution"]

    t = run("show", ident)
    assert t.rc == 0, t
    out = t.stdout
    assert "progix-to-slack/deploy" in out and ident in out, out
    for piece in ("list", "exists", "create", "progix.list_webhooks",
                  "progix.create_webhook", "GET %s/webhooks" % progix.url,
                  "POST %s/webhooks" % progix.url, "201"):
        assert piece in out, (piece, out)
    assert_no_secret(out + t.stderr)

    j = run("show", ident, "--json")
    assert j.rc == 0, j
    ex = j.json()
    assert ex["id"] == ident and ex["flow"] == "deploy" and ex["status"] == "ok"
    assert ex["integration"] == "progix-to-slack" and ex["instance"] == "default"
    assert ex["input"] == {}
    tr = ex["trace"]
    assert tr["execution"] == ident and tr["status"] == "ok"
    assert [s["id"] for s in tr["steps"]] == ["list", "exists"]
    create = tr["steps"][1]["steps"][0]
    assert create["id"] == "create" and create["status"] == "ok"
    assert create["http"][0]["method"] == "POST"
    assert create["http"][0]["status"] == 201
    assert create["output"]["url"] == OUR_HOOK
    assert_no_secret(j.stdout)
    assert API_KEY not in json.dumps(ex)

    r = run("show", "ex_0000000000000000")
    assert r.rc == 1, r
    assert "ex_0000000000000000" in r.stderr
    assert run("show").rc == 2


# -- kill -9 in the middle of a deploy ------------------------------------------

def _integrity(env):
    db = sqlite3.connect(store_path(env), timeout=10)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def _deploy_killed_in(flowrun_bin, base_env, tmp_path, progix, method):
    """Starts a deploy, kill -9s it while its `method /webhooks` is in flight."""
    progix.post("/_admin/fail", {"method": method, "path": "/webhooks",
                                 "delay": 2, "count": 1})
    p = subprocess.Popen([flowrun_bin, "deploy", EXAMPLE, "--set",
                          "progix_url=" + progix.url, "--public-url", PUBLIC_URL],
                         cwd=str(tmp_path), env=base_env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any(q["method"] == method for q in requests_of(progix)),
                 10, "the deploy's %s /webhooks" % method)
        time.sleep(0.1)
        assert p.poll() is None, "deploy ended before it was killed"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == -signal.SIGKILL


def test_kill_9_during_list_then_deploy_again(run, progix, flowrun_bin,
                                               base_env, tmp_path):
    _deploy_killed_in(flowrun_bin, base_env, tmp_path, progix, "GET")
    assert _integrity(base_env) == "ok"
    r = deploy(run, progix)
    assert r.rc == 0, r
    assert len(ours(progix)) == 1, hooks(progix)
    assert _integrity(base_env) == "ok"
    assert runs(run, "--status", "ok")[0]["flow"] == "deploy"


def test_kill_9_during_create_then_deploy_again(run, progix, flowrun_bin,
                                                 base_env, tmp_path):
    # the webhook is created although the deploy that asked died: the next
    # deploy must find it, not create a second one
    _deploy_killed_in(flowrun_bin, base_env, tmp_path, progix, "POST")
    wait_for(lambda: ours(progix), 5, "the delayed POST to be served")
    assert _integrity(base_env) == "ok"
    r = deploy(run, progix)
    assert r.rc == 0, r
    assert len(ours(progix)) == 1, hooks(progix)
    assert _integrity(base_env) == "ok"
