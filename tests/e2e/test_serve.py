"""`flowrun serve`: the whole story, every endpoint and error status, dedupe,
retries and replay, sync flows.  Each test starts its own serve on
127.0.0.1 with an ephemeral port (the `serve` fixture) and the stand-ins."""

import http.client
import json
import re
import socket
import subprocess
import threading
import time

import pytest

from helpers import (CONNECTORS, EXAMPLE, SECRETS, add_accounts,
                     flow_file, messages_of, requests_of)
from serving import store_query, wait_for

SERVE_FLOWS = flow_file("serve")
ACCOUNTS = [
    {"name": "Acme", "contact": "Ada Lovelace", "email": "ada@acme.test"},
    {"name": "Globex", "contact": "Hank Scorpio", "email": "hank@globex.test"},
    {"name": "Initech", "contact": "Bill Lumbergh", "email": "bill@initech.test"},
    {"name": "Umbrella", "contact": "Albert Wesker", "email": "aw@umbrella.test"},
]


@pytest.fixture(scope="module", autouse=True)
def _ticker_starts_early(ticker):
    """Starts the schedule of test_serve_schedule.py now, so that its wait
    for the next minute runs alongside these tests."""


def text_of(a):
    return "New account %s (%s <%s>)" % (a["name"], a["contact"], a["email"])


def hook(flow):
    return "/hooks/e2e-serve/" + flow


def start(serve, progix, slack, *more):
    return serve(SERVE_FLOWS, "--connectors", CONNECTORS,
                 "--set", "progix_url=" + progix.url,
                 "--set", "slack_url=" + slack.url, *more)


def show(run, ident):
    """The recorded execution, or None."""
    r = run("show", ident, "--json")
    if r.rc == 1:
        return None
    assert r.rc == 0, r
    return r.json()


def wait_execution(run, ident, status="ok", timeout=10):
    def done():
        ex = show(run, ident)
        return ex if ex and ex["status"] == status else None
    return wait_for(done, timeout, "execution %s to be %s" % (ident, status),
                    interval=0.1)


def runs(run, *args):
    r = run("runs", "--json", *args)
    assert r.rc == 0, r
    return r.json()


def assert_error(r, status):
    assert r.status == status, r
    assert r.headers.get("content-type", "").startswith("application/json"), r
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], r
    return body


def accepted(r):
    """The execution id of a 202 answer (checked)."""
    assert r.status == 202, r
    body = r.json()
    assert set(body) == {"execution"}, body
    assert re.fullmatch(r"ex_[0-9a-f]+", body["execution"]), body
    assert r.headers.get("flowrun-execution") == body["execution"], r
    return body["execution"]


# -- the story --------------------------------------------------------------------

def test_story_deploy_then_progix_calls_then_slack_messages(run, serve, project,
                                                            progix, slack):
    flows = project(EXAMPLE)
    srv = serve(flows, "--set", "progix_url=" + progix.url,
                "--set", "slack_url=" + slack.url)
    r = run("deploy", flows, "--set", "progix_url=" + progix.url,
            "--public-url", srv.url)
    assert r.rc == 0, r
    hooks = progix.get("/_admin/webhooks")["webhooks"]
    assert [h["url"] for h in hooks] == [srv.url + "/hooks/progix-to-slack/account"]

    # Progix creates accounts and calls our (signed) webhook each time
    got = progix.post("/_admin/accounts", {"accounts": ACCOUNTS[:3]})
    (d1,) = got["deliveries"]
    assert d1["status"] == 202, got
    got = progix.post("/_admin/accounts", {"accounts": ACCOUNTS[3:]})
    (d2,) = got["deliveries"]
    assert d2["status"] == 202, got
    ids = [json.loads(d["body"])["execution"] for d in (d1, d2)]

    wait_for(lambda: len(messages_of(slack)) >= 4, 10, "four Slack messages")
    time.sleep(0.3)  # nothing more comes
    msgs = messages_of(slack)
    assert sorted(m["text"] for m in msgs) == sorted(text_of(a) for a in ACCOUNTS)
    assert {m["channel"] for m in msgs} == {"#newaccount"}
    for i in ids:
        wait_execution(run, i)
    assert sorted(x["id"] for x in runs(run, "--flow", "account")) == sorted(ids)

    # a delivery signed with another secret is refused and runs nothing
    got = progix.post("/_admin/accounts", {"accounts": [{"name": "Evil"}],
                                           "secret": "not-the-secret"})
    assert got["deliveries"][0]["status"] == 401, got
    time.sleep(0.3)
    assert len(messages_of(slack)) == 4
    for s in SECRETS:
        assert s not in srv.log(), srv.log()


def test_story_per_instance(run, serve, project, progix, slack):
    flows = project(EXAMPLE, instances={"acme": (
        "instance: acme\nintegration: progix-to-slack\n"
        "config:\n  slack_channel: \"#general\"\n")})
    srv = serve(flows, "--set", "progix_url=" + progix.url,
                "--set", "slack_url=" + slack.url)
    r = run("deploy", flows, "--all-instances", "--set",
            "progix_url=" + progix.url, "--public-url", srv.url)
    assert r.rc == 0, r
    assert [h["url"] for h in progix.get("/_admin/webhooks")["webhooks"]] == \
        [srv.url + "/hooks/acme/progix-to-slack/account"]
    got = progix.post("/_admin/accounts", {"accounts": ACCOUNTS[:1]})
    assert got["deliveries"][0]["status"] == 202, got
    wait_for(lambda: messages_of(slack), 10, "a Slack message")
    assert [(m["channel"], m["text"]) for m in messages_of(slack)] == \
        [("#general", text_of(ACCOUNTS[0]))]
    (x,) = runs(run, "--flow", "account")
    assert x["instance"] == "acme"


def test_startup_log_names_the_real_urls(serve, progix, slack):
    srv = start(serve, progix, slack)
    log = srv.log()
    # "flowrun:   e2e-serve/default/echo -> URL"
    urls = re.findall(r"e2e-serve/default/echo -> (\S+)", log)
    assert urls, log
    for u in urls:
        assert u.startswith(srv.url + "/"), \
            "startup log names %s, but serve listens on %s:\n%s" % (u, srv.url, log)


def test_startup_errors(flowrun_bin, base_env, tmp_path):
    def serve_rc(*args):
        p = subprocess.run([flowrun_bin, "serve", "--listen", "127.0.0.1:0"] +
                           list(args), cwd=str(tmp_path), env=base_env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=10)
        return p.returncode, p.stderr
    verify = flow_file("verify")
    rc, err = serve_rc(verify)                     # token_secret has no value
    assert rc == 4 and "token_secret" in err, err
    rc, err = serve_rc(verify, "--set", "token_secret=")       # empty secret
    assert rc == 4 and "empty" in err, err
    bad = tmp_path / "bad.yaml"
    bad.write_text("integration: x\nflows:\n  f:\n    trigger: {webhook: }\n"
                   "    steps:\n      - transform: '.[ '\n")
    rc, err = serve_rc(str(bad))
    assert rc == 3 and "bad.yaml:6:" in err, err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        p = subprocess.run([flowrun_bin, "serve", "--listen", "127.0.0.1:%d"
                            % busy.getsockname()[1], flow_file("tick")],
                           cwd=str(tmp_path), env=base_env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
    assert p.returncode == 5 and "cannot listen" in p.stderr, p.stderr


# -- async deliveries and every error status ----------------------------------------

def test_async_delivery_202_then_runs(run, serve, progix, slack):
    srv = start(serve, progix, slack)
    ident = accepted(srv.post(hook("echo"), {"a": 1, "b": [True, None]}))
    ex = wait_execution(run, ident)
    assert ex["flow"] == "echo" and ex["instance"] == "default"
    assert ex["trace"]["output"] == {"a": 1, "b": [True, None]}
    trig = ex["input"]
    assert trig["method"] == "POST" and trig["path"] == hook("echo")
    assert trig["headers"]["content-type"] == "application/json"
    assert trig["raw_body"] == '{"a":1,"b":[true,null]}'

    # the same flow under the instance's own path
    other = accepted(srv.post("/hooks/default/e2e-serve/echo", {"x": "y"}))
    assert other != ident
    assert wait_execution(run, other)["trace"]["output"] == {"x": "y"}

    # the query string plays no part in the route; an empty body is null
    third = accepted(srv.post(hook("echo") + "?x=1&y=two", b"",
                              {"X-Custom": "Value"}))
    trig = wait_execution(run, third)["input"]
    assert trig["body"] is None and trig["raw_body"] == ""
    assert trig["query"] == {"x": "1", "y": "two"}
    assert trig["path"] == hook("echo")
    assert trig["headers"]["x-custom"] == "Value"


def test_keep_alive_connection(run, serve, progix, slack):
    srv = start(serve, progix, slack)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    got = []
    try:
        for i, (path, body, status) in enumerate(
                [(hook("echo"), b'{"i":0}', 202), (hook("load"), b'{"n":1}', 401),
                 (hook("echo"), b"x" * 2000, 413), (hook("echo"), b'{"i":3}', 202),
                 (hook("echo"), b"{bad", 400), (hook("sync"), b'{"name":"ka"}', 201),
                 (hook("nope"), b"{}", 404), (hook("echo"), b'{"i":7}', 202)]):
            conn.request("POST", path, body=body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            got.append((r.status, status))
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            if status == 202:
                wait_execution(run, json.loads(data)["execution"])
    finally:
        conn.close()
    assert [g for g, _ in got] == [w for _, w in got], got


def test_unknown_hook_404_lists_no_hooks(serve, progix, slack):
    srv = start(serve, progix, slack)
    for method, path in (("POST", hook("nope")), ("POST", "/hooks/acme/e2e-serve/echo"),
                         ("POST", "/hooks/e2e-serve"), ("GET", "/"),
                         ("POST", "/custom/handshake/x")):
        r = srv.request(method, path, b"{}", {"Content-Type": "application/json"})
        body = assert_error(r, 404)
        text = r.text()
        for leak in ("echo", "e2e-serve", "handshake", "dedupe", "/hooks/", "/custom"):
            assert leak not in text, "404 body names hooks: %r" % text
        assert set(body) == {"error"}, body


def test_wrong_method_405(serve, progix, slack):
    srv = start(serve, progix, slack)
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        assert_error(srv.request(method, hook("echo")), 405)
    # methods: [GET, POST] on its own path
    r = srv.get("/custom/handshake?challenge=abc123")
    assert r.status == 200, r
    assert r.text() == "abc123" and r.headers["content-type"].startswith("text/plain")
    r = srv.post("/custom/handshake", {"challenge": "xyz"})
    assert (r.status, r.text()) == (200, "xyz"), r
    assert_error(srv.request("DELETE", "/custom/handshake"), 405)


def test_body_over_max_body_413(run, serve, progix, slack):
    srv = start(serve, progix, slack)
    ct = {"Content-Type": "text/plain"}
    ok = accepted(srv.post(hook("echo"), b"x" * 1024, ct))       # max_body: 1KiB
    assert_error(srv.post(hook("echo"), b"x" * 1025, ct), 413)
    assert_error(srv.post(hook("echo"), b"y" * 5000, ct, chunked=True), 413)
    try:
        r = srv.post(hook("echo"), b"z" * 200000, ct)
    except (BrokenPipeError, ConnectionResetError):
        r = None  # refused before the whole body was sent: fine too
    if r is not None:
        assert_error(r, 413)
    wait_execution(run, ok)
    assert [x["id"] for x in runs(run, "--flow", "echo")] == [ok]
    assert srv.running()


def test_large_deliveries_queued_beyond_memory(run, serve, progix, slack):
    """Serve hands committed deliveries to its workers in memory, up to
    8 MiB of bodies; the ones beyond are read back from the store.  Either
    way each runs on its own body."""
    (acc,) = add_accounts(progix, ACCOUNTS[0])
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + acc,
                                 "delay": 0.5, "count": 6})
    srv = start(serve, progix, slack)
    pad = "p" * (3 << 20)                # 6 x 3 MiB queued behind a slow one
    ids = [accepted(srv.post(hook("big"), {"id": acc, "marker": "m%d" % i,
                                           "pad": pad}))
           for i in range(6)]
    for i, ident in enumerate(ids):
        out = wait_execution(run, ident, timeout=30)["trace"]["output"]
        assert out == {"marker": "m%d" % i, "pad": len(pad)}, out
    assert srv.running()


def test_invalid_json_400(run, serve, progix, slack):
    srv = start(serve, progix, slack)
    for ct in ("application/json", "application/json; charset=utf-8",
               "application/vnd.e2e+json"):
        body = assert_error(srv.post(hook("echo"), b'{"a": ', {"Content-Type": ct}), 400)
        assert "json" in body["error"].lower(), body
    # the same bytes not claimed as JSON are a text body
    ident = accepted(srv.post(hook("echo"), b'{"a": ', {"Content-Type": "text/plain"}))
    assert wait_execution(run, ident)["trace"]["output"] == '{"a": '
    assert [x["id"] for x in runs(run, "--flow", "echo")] == [ident]


def test_health_ready_and_metrics(run, serve, progix, slack):
    srv = start(serve, progix, slack)
    r = srv.get("/healthz")
    assert r.status == 200, r
    r = srv.get("/readyz")
    assert r.status == 200, r

    ident = accepted(srv.post(hook("echo"), {"a": 1}))
    assert_error(srv.post(hook("nope"), {}), 404)
    assert_error(srv.get(hook("echo")), 405)
    assert_error(srv.post(hook("echo"), b"x" * 2000, {"Content-Type": "text/plain"}), 413)
    assert_error(srv.post(hook("echo"), b"{", {"Content-Type": "application/json"}), 400)
    assert_error(srv.post(hook("load"), {"n": 1}), 401)
    assert_error(srv.post(hook("sync_fail"), {"name": "x"}), 500)
    wait_execution(run, ident)
    wait_for(lambda: re.search(r'flowrun_executions_total\{flow="e2e-serve/default/'
                               r'sync_fail",outcome="failed"\} 1', srv.get("/metrics").text()),
             5, "the sync failure to be counted")

    r = srv.get("/metrics")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain"), r
    text = r.text()
    samples = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+) ", line)
            assert m and m.group(2).startswith("flowrun_"), line
            continue
        m = re.fullmatch(r'(flowrun_[a-z0-9_]+)(\{[^}]*\})? ([0-9.e+-]+|\+Inf|NaN)', line)
        assert m, "not a flowrun_ sample: %r" % line
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))

    def value(name, **labels):
        for k, v in samples.items():
            if k.split("{")[0] == name and all(
                    '%s="%s"' % (lk, lv) in k for lk, lv in labels.items()):
                return v
        raise AssertionError("no %s%s in metrics:\n%s" % (name, labels, text))

    echo = "e2e-serve/default/echo"
    assert value("flowrun_http_requests_total", flow=echo, status="202") == 1
    assert value("flowrun_http_requests_total", flow=echo, status="405") == 1
    assert value("flowrun_http_requests_total", flow=echo, status="400") == 1
    assert value("flowrun_http_requests_total", flow="e2e-serve/default/load",
                 status="401") == 1
    assert value("flowrun_http_requests_total", status="404") == 1
    assert value("flowrun_executions_total", flow=echo, outcome="ok") == 1
    assert value("flowrun_executions_total", flow=echo, outcome="failed") == 0
    assert value("flowrun_executions_total", flow="e2e-serve/default/sync_fail",
                 outcome="failed") == 1
    for name in ("flowrun_queue_depth", "flowrun_executions_running",
                 "flowrun_execution_duration_seconds_count",
                 "flowrun_store_commits_total", "flowrun_deliveries_stored_total",
                 "flowrun_store_commit_seconds_count"):
        value(name)


def test_metrics_count_every_status_answered(serve, progix, slack):
    # serve.md: /metrics has "requests by flow and status"; the 413s and the
    # answers of sync flows (200, 500, 504) are webhook requests too
    srv = start(serve, progix, slack)
    assert_error(srv.post(hook("echo"), b"x" * 2000, {"Content-Type": "text/plain"}), 413)
    assert_error(srv.post(hook("sync_fail"), {"name": "x"}), 500)
    assert srv.post(hook("sync_plain"), {"a": 1, "b": 2}).status == 200
    got = {}

    def missing():
        # a request is counted when serve is done with it, which may be
        # just after the client has read the answer
        got["text"] = text = srv.get("/metrics").text()
        return [
            "%s %d" % (flow, status)
            for flow, status in (("echo", 413), ("sync_fail", 500), ("sync_plain", 200))
            if not re.search(r'flowrun_http_requests_total\{flow="e2e-serve/'
                             r'default/%s",[^}]*status="%d"\} 1\n' % (flow, status),
                             text)]
    try:
        wait_for(lambda: not missing(), 30, "the three requests to be counted")
    except AssertionError:
        raise AssertionError("not counted: %s\n%s" % (", ".join(missing()), got["text"]))


def test_checks_run_in_order(serve, progix, slack):
    # path, method, draining and queue limit, body size, verification, JSON
    srv = start(serve, progix, slack)
    big = b"x" * 2000
    assert_error(srv.request("GET", hook("nope")), 404)
    assert_error(srv.request("PUT", hook("echo"), big, {"Content-Type": "text/plain"}), 405)
    assert_error(srv.post(hook("echo"), b"{" * 2000,
                          {"Content-Type": "application/json"}), 413)
    assert_error(srv.post(hook("load"), b"{not json",
                          {"Content-Type": "application/json"}), 401)


# -- dedupe ---------------------------------------------------------------------------

def test_dedupe_runs_a_repeat_once(run, serve, progix, slack):
    srv = start(serve, progix, slack)
    first = accepted(srv.post(hook("dedupe"), {"id": "d-1"}))
    r = srv.post(hook("dedupe"), {"id": "d-1"})
    assert r.status == 200, r
    assert r.json() == {"execution": first, "duplicate": True}, r
    assert r.headers.get("flowrun-execution") == first
    second = accepted(srv.post(hook("dedupe"), {"id": "d-2"}))
    assert second != first

    # eight at once with one key: one execution, all answers name it
    answers = [None] * 8

    def post(i):
        answers[i] = srv.post(hook("dedupe"), {"id": "d-3"})
    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert all(a is not None for a in answers), answers
    assert sorted(a.status for a in answers) == [200] * 7 + [202], answers
    assert len({a.json()["execution"] for a in answers}) == 1, answers

    wait_for(lambda: len(messages_of(slack)) >= 3, 10, "three Slack messages")
    time.sleep(0.5)
    assert sorted(m["text"] for m in messages_of(slack)) == \
        ["dedupe d-1", "dedupe d-2", "dedupe d-3"]
    assert len(runs(run, "--flow", "dedupe")) == 3

    # the keys are in the store: a repeat after a restart is still one
    assert srv.stop() == 0
    srv = start(serve, progix, slack)
    r = srv.post(hook("dedupe"), {"id": "d-1"})
    assert (r.status, r.json()) == (200, {"execution": first, "duplicate": True}), r
    time.sleep(0.3)
    assert len(messages_of(slack)) == 3


# -- retries and replay -----------------------------------------------------------------

def account_gets(progix, ident):
    return [q for q in requests_of(progix)
            if q["method"] == "GET" and q["path"] == "/accounts/" + ident]


def test_retry_until_success(run, serve, progix, slack):
    (acc,) = add_accounts(progix, ACCOUNTS[0])
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + acc,
                                 "status": 500, "count": 2})
    srv = start(serve, progix, slack)
    ident = accepted(srv.post(hook("retry"), {"id": acc}))
    ex = wait_execution(run, ident, timeout=10)
    assert ex["trace"]["output"]["name"] == "Acme"
    gets = account_gets(progix, acc)
    assert [q["status"] for q in gets] == [500, 500, 200], gets
    # retry: {attempts: 3, delay: 100ms}, backoff 2.0 (with some jitter)
    assert gets[1]["time"] - gets[0]["time"] >= 0.07, gets
    assert gets[2]["time"] - gets[1]["time"] >= 0.14, gets
    (x,) = runs(run, "--flow", "retry")
    assert x["id"] == ident and x["status"] == "ok"
    assert runs(run, "--status", "failed") == []
    m = re.search(r'flowrun_retries_total\{flow="e2e-serve/default/retry"\} (\d+)',
                  srv.get("/metrics").text())
    assert m and int(m.group(1)) == 2, srv.get("/metrics").text()


def test_failed_after_the_last_attempt_then_replay(run, serve, progix, slack):
    (acc,) = add_accounts(progix, ACCOUNTS[0])
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + acc,
                                 "status": 500, "count": -1})
    srv = start(serve, progix, slack)
    ident = accepted(srv.post(hook("retry"), {"id": acc}))
    wait_execution(run, ident, status="failed", timeout=10)
    time.sleep(0.5)  # no fourth attempt
    assert [q["status"] for q in account_gets(progix, acc)] == [500] * 3
    failed = runs(run, "--status", "failed")
    assert [x["id"] for x in failed] == [ident], failed
    assert "500" in failed[0]["error"]
    assert re.search(r"%s: failed" % ident, srv.log()), srv.log()

    # the cause goes away; replay queues it again and serve runs it
    progix.post("/_admin/reset")
    assert add_accounts(progix, ACCOUNTS[0]) == [acc]
    r = run("replay", "--failed")
    assert r.rc == 0, r
    m = re.search(r"%s -> (ex_[0-9a-f]+) queued" % ident, r.stdout)
    assert m, r
    new = m.group(1)
    ex = wait_execution(run, new, timeout=10)
    assert ex["trace"]["output"]["name"] == "Acme"
    assert ex["flow"] == "retry"
    assert [q["status"] for q in account_gets(progix, acc)] == [200]
    r = run("replay", "--failed")
    assert r.rc == 0 and "nothing to replay" in r.stdout, r


def test_replay_of_one_execution(run, serve, progix, slack):
    srv = start(serve, progix, slack)
    ident = accepted(srv.post(hook("echo"), {"again": 1}))
    wait_execution(run, ident)
    r = run("replay", ident, "--json")
    assert r.rc == 0, r
    (entry,) = r.json()
    assert entry["execution"] == ident and entry["replay"] != ident
    ex = wait_execution(run, entry["replay"])
    assert ex["trace"]["output"] == {"again": 1}
    assert ex["input"]["raw_body"] == '{"again":1}'
    r = run("replay", "ex_0000000000000000")
    assert r.rc == 1 and "ex_0000000000000000" in r.stderr, r


# -- sync flows -------------------------------------------------------------------------

def test_sync_answers_with_the_respond_step(run, serve, progix, slack):
    srv = start(serve, progix, slack)
    r = srv.post(hook("sync"), {"name": "Ada", "n": 7})
    assert r.status == 201, r
    assert r.json() == {"greeting": "hello Ada", "n": 7}
    assert r.headers["content-type"].startswith("application/json"), r
    ident = r.headers.get("flowrun-execution")
    assert ident and wait_execution(run, ident)["flow"] == "sync"

    # without a respond step: 200 and the last step's output
    r = srv.post(hook("sync_plain"), {"a": 2, "b": 3})
    assert r.status == 200, r
    assert r.json() == {"sum": 5}
    assert r.headers.get("flowrun-execution"), r

    # a handshake: the challenge echoed as text, on the trigger's own path
    r = srv.post("/custom/handshake", {"challenge": "c-42"})
    assert (r.status, r.text()) == (200, "c-42"), r


def test_sync_respond_step_headers_are_sent(serve, progix, slack):
    # serve.md: "The answer is the respond step's {status, headers, body}"
    # (a handshake such as Asana's echoes a header: X-Hook-Secret)
    srv = start(serve, progix, slack)
    r = srv.post(hook("sync"), {"name": "Ada", "n": 7})
    assert r.status == 201, r
    assert r.headers.get("x-e2e") == "sync", r


def test_sync_failure_500(run, serve, progix, slack):
    # the caller learns that it failed and which execution, never why: the
    # reason (upstream URLs, bodies) is for `flowrun show`, not the sender
    srv = start(serve, progix, slack)
    r = srv.post(hook("sync_fail"), {"name": "Bob"})
    body = assert_error(r, 500)
    assert set(body) == {"error", "execution"}, body
    assert body["error"] == "execution failed", body
    assert re.fullmatch(r"ex_[0-9a-f]+", body["execution"]), body
    assert r.headers.get("flowrun-execution") == body["execution"], r
    assert b"Bob" not in r.body, r
    ex = wait_execution(run, body["execution"], status="failed")
    assert ex["flow"] == "sync_fail"
    assert "refused Bob" in ex["error"], ex


def test_sync_timeout_504_and_the_execution_goes_on(run, serve, progix, slack):
    (acc,) = add_accounts(progix, ACCOUNTS[1])
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts/" + acc,
                                 "delay": 2.5, "count": 1})
    srv = start(serve, progix, slack, "--sync-timeout", "1s")
    t0 = time.monotonic()
    r = srv.post(hook("sync_slow"), {"id": acc})
    took = time.monotonic() - t0
    body = assert_error(r, 504)
    assert 0.9 <= took < 2.3, "504 after %.2f s" % took
    ident = body.get("execution")
    assert ident and r.headers.get("flowrun-execution") == ident, r
    ex = wait_execution(run, ident, timeout=10)
    assert ex["trace"]["output"]["body"] == {"name": "Globex"} or \
        ex["trace"]["output"] == {"status": 200, "body": {"name": "Globex"}} or \
        "Globex" in json.dumps(ex["trace"]["output"]), ex["trace"]["output"]
    assert [q["status"] for q in account_gets(progix, acc)] == [200]


def test_dedupe_keys_compare_as_json(run, serve, progix, slack):
    """"1" and 1 are two keys; objects compare whatever their key order;
    a long key (hashed in the store) still dedupes."""
    srv = start(serve, progix, slack)
    as_string = accepted(srv.post(hook("dedupe"), {"id": "1"}))
    as_number = accepted(srv.post(hook("dedupe"), {"id": 1}))
    assert as_string != as_number
    r = srv.post(hook("dedupe"), {"id": 1})
    assert (r.status, r.json()) == (200, {"execution": as_number,
                                          "duplicate": True}), r
    r = srv.post(hook("dedupe"), {"id": "1"})
    assert r.json()["execution"] == as_string, r
    obj = accepted(srv.post(hook("dedupe"), {"id": {"a": 1, "b": [2]}}))
    r = srv.post(hook("dedupe"), body='{"id": {"b": [2], "a": 1}}',
                 headers={"Content-Type": "application/json"})
    assert r.json() == {"execution": obj, "duplicate": True}, r
    long_key = "k" * 5000
    first = accepted(srv.post(hook("dedupe"), {"id": long_key}))
    r = srv.post(hook("dedupe"), {"id": long_key})
    assert r.json() == {"execution": first, "duplicate": True}, r
    other = accepted(srv.post(hook("dedupe"), {"id": long_key + "x"}))
    assert other != first
    keys = [k for (k,) in store_query(srv.env, "SELECT dedupe_key FROM "
                                      "deliveries WHERE flow = 'dedupe'")]
    assert '"1"' in keys and "1" in keys, keys
    assert all(len(k) <= 200 for k in keys), [len(k) for k in keys]
    assert sum(k.startswith("sha256:") for k in keys) == 2, keys
