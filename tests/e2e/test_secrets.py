"""Secrets never appear in any output; a missing secret stops the run early."""

import base64
import hashlib
import hmac
import json
import pathlib
import re
import sqlite3
import urllib.parse

import pytest

import serving
from helpers import (API_KEY, CONNECTORS, PUBLIC_URL, SECRETS, account_input,
                     add_accounts, example_args, flow_file, requests_of, step)
from serving import wait_for

ACME = {"name": "Acme", "contact": "Ada", "email": "ada@acme.test"}


def assert_no_secret(r):
    text = r.stdout + "\n" + r.stderr
    for s in SECRETS:
        assert s not in text, "secret %r printed by %r" % (s, r)
    # nor a good part of one (a redaction that missed a prefix or suffix)
    for s in SECRETS:
        assert s[4:-4] not in text, "part of secret %r printed by %r" % (s, r)


@pytest.fixture
def account_run(run, progix, slack):
    ids = add_accounts(progix, ACME)

    def _run(*more):
        return run("run", *example_args(progix, slack), "--flow", "account",
                   "--input", account_input(*ids), *more)

    return _run


@pytest.mark.parametrize("opts", [[], ["--json"], ["-v"], ["-v", "--json"],
                                  ["--log-format", "json", "-v"]])
def test_account_flow_prints_no_secret(account_run, slack, opts):
    r = account_run(*opts)
    assert r.rc == 0, r
    assert len(slack.get("/_admin/messages")["messages"]) == 1
    assert_no_secret(r)


@pytest.mark.parametrize("opts", [[], ["--json"], ["-v"]])
def test_failing_run_prints_no_secret(account_run, progix, opts):
    progix.post("/_admin/fail", {"method": "GET", "path": "/accounts",
                                 "status": 500, "count": -1,
                                 "body": {"error": "internal error"}})
    r = account_run(*opts)
    assert r.rc == 1, r
    assert "500" in r.stdout + r.stderr
    assert_no_secret(r)


@pytest.mark.parametrize("opts", [[], ["--json"], ["-v"]])
def test_dry_runs_print_no_secret(run, progix, slack, opts):
    r = run("run", *example_args(progix), "--flow", "deploy", "--dry-run",
            "--public-url", PUBLIC_URL, *opts)
    assert r.rc == 0, r
    assert "***" in r.stdout  # the Authorization header of the POST
    assert_no_secret(r)
    ids = add_accounts(progix, ACME)
    r = run("run", *example_args(progix, slack), "--flow", "account", "--dry-run",
            "--input", account_input(*ids), *opts)
    assert r.rc == 0, r
    assert "***" in r.stdout
    assert_no_secret(r)


def test_offline_run_prints_no_secret(run, progix, slack):
    r = run("run", *example_args(progix, slack), "--flow", "account", "--offline",
            "--input", account_input("acc_1"), "--json",
            "--mock", "progix.get_accounts=" + json.dumps([ACME]))
    assert r.rc == 0, r
    assert_no_secret(r)


def secrets_flow(run, progix, flow, *more, **kw):
    return run("run", flow_file("secrets"), "--connectors", CONNECTORS,
               "--set", "progix_url=" + progix.url, "--flow", flow, *more, **kw)


@pytest.mark.parametrize("opts", [[], ["--json"], ["-v"], ["-vv"],
                                  ["-vv", "--log-format", "json"]])
def test_secrets_in_logs_outputs_state_and_fail_text(run, progix, opts):
    r = secrets_flow(run, progix, "echo", *opts)
    assert r.rc == 1, r  # the flow ends with a fail step
    assert_no_secret(r)
    assert "the key is ***" in r.stderr, r
    assert "failing with ***" in r.stdout + r.stderr
    # the request was sent, with the real key, to the stand-in
    reqs = requests_of(progix)
    assert len(reqs) == 1 and reqs[0]["path"] == "/accounts"


def test_secrets_in_outputs_are_redacted_in_the_trace(run, progix):
    r = secrets_flow(run, progix, "echo", "--json")
    t = r.json()
    assert step(t, "out")["output"]["key"] == "***"
    assert step(t, "out")["output"]["bearer"] == "Bearer ***"
    assert step(t, "echo_state")["output"]["remembered"] == "***"
    assert_no_secret(r)


@pytest.mark.parametrize("opts", [[], ["--json"], ["-vv"]])
def test_secret_in_a_failing_url(run, progix, opts):
    r = secrets_flow(run, progix, "url", *opts)
    assert r.rc == 1, r
    assert "404" in r.stdout + r.stderr
    assert "/nowhere" in r.stderr  # the URL is named, its secret redacted
    assert_no_secret(r)


@pytest.mark.parametrize("opts", [["--dry-run"], ["--dry-run", "--json"],
                                  ["--offline", "--json"]])
def test_secret_in_a_dry_run_request(run, progix, opts):
    r = secrets_flow(run, progix, "post", *opts)
    assert r.rc == 0, r
    assert requests_of(progix) == []
    assert "/webhooks" in r.stdout
    assert_no_secret(r)


@pytest.mark.parametrize("opts", [["-vv"], ["-vv", "--log-format", "json"]])
def test_secrets_in_a_request_sent_under_vv(run, progix, opts):
    # sent for real: its URL, headers and body shown, the secrets as ***
    r = secrets_flow(run, progix, "post", *opts)
    assert "POST /webhooks?sig=***" in r.stderr, r
    assert "X-Token: ***" in r.stderr and "x.test/***" in r.stderr, r
    assert len(requests_of(progix)) == 1
    assert_no_secret(r)


def test_secrets_in_a_concurrent_loop(run, progix):
    for opts in ([], ["--json"]):
        r = secrets_flow(run, progix, "concurrent", *opts)
        assert r.rc == 0, r
        assert r.stderr.count("key ***") == 8, r
        assert_no_secret(r)


def test_secret_in_a_jq_error(run, progix):
    r = secrets_flow(run, progix, "error", "--json")
    assert r.rc == 1, r
    assert "boom ***" in r.json()["error"]
    assert_no_secret(r)


def test_store_and_show_hold_no_secret(run, progix, slack, tmp_path):
    """Executions recorded in the store and `flowrun show` of them hold no
    secret either: the store's files are scanned byte by byte."""
    store = tmp_path / "scan" / "flowrun.db"
    store.parent.mkdir()
    env = {"FLOWRUN_STORE": "sqlite:%s" % store}
    ids = add_accounts(progix, ACME)
    executions = []
    for args in ((*example_args(progix, slack), "--flow", "account",
                  "--input", account_input(*ids)),
                 (flow_file("secrets"), "--connectors", CONNECTORS,
                  "--set", "progix_url=" + progix.url, "--flow", "url")):
        r = run("run", *args, "--json", env=env)
        assert r.rc in (0, 1), r
        executions.append(r.json()["execution"])
    for ex in executions:
        for opts in ([], ["--json"]):
            shown = run("show", ex, *opts, env=env)
            assert shown.rc == 0, shown
            assert ex in shown.stdout
            assert_no_secret(shown)
    files = [p for p in store.parent.rglob("*") if p.is_file()]
    assert files, "no store written at %s" % store
    for p in files:
        data = p.read_bytes()
        for s in SECRETS:
            assert s.encode() not in data, "secret %r stored in %s" % (s, p)


def test_stored_traces_hold_no_secret(run, progix, tmp_path):
    """The echo flow puts a secret in the instance state on purpose (a set
    step); every other table of the store must still be free of secrets."""
    store = tmp_path / "echo.db"
    r = secrets_flow(run, progix, "echo", "--json",
                     env={"FLOWRUN_STORE": "sqlite:%s" % store})
    assert r.rc == 1, r
    db = sqlite3.connect(str(store))
    try:
        tables = [t for (t,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert tables
        for t in tables:
            if t == "state":
                continue
            for row in db.execute('SELECT * FROM "%s"' % t):
                for s in SECRETS:
                    assert s not in repr(row), "secret %r in table %s" % (s, t)
    finally:
        db.close()


# -- missing secrets ------------------------------------------------------------

@pytest.mark.parametrize("flow, var, env", [
    ("account", "slack_token", "SLACK_TOKEN"),
    ("account", "progix_api_key", "PROGIX_API_KEY"),
    ("deploy", "progix_api_key", "PROGIX_API_KEY"),
])
def test_missing_secret_exits_4_before_any_request(run, progix, slack, flow, var, env):
    ids = add_accounts(progix, ACME)
    before = len(requests_of(progix))
    r = run("run", *example_args(progix, slack), "--flow", flow,
            "--public-url", PUBLIC_URL, "--input", account_input(*ids),
            unset=[env])
    assert r.rc == 4, r
    assert var in r.stderr, r
    assert env in r.stderr, r
    assert requests_of(progix)[before:] == []
    assert requests_of(slack) == []
    assert_no_secret(r)


def test_missing_secret_json(run, progix, slack):
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input("acc_1"), "--json", unset=["SLACK_TOKEN"])
    assert r.rc == 4, r
    assert "slack_token" in r.stderr and "SLACK_TOKEN" in r.stderr
    assert requests_of(progix) == [] and requests_of(slack) == []


def test_secret_by_set_instead_of_env(run, progix, slack):
    ids = add_accounts(progix, ACME)
    from helpers import SLACK_TOKEN
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), "--set", "slack_token=" + SLACK_TOKEN,
            unset=["SLACK_TOKEN"])
    assert r.rc == 0, r
    assert len(slack.get("/_admin/messages")["messages"]) == 1
    assert_no_secret(r)


# -- every form of a secret (flows/leaks.yaml) ------------------------------------

# A secret that every encoding changes: '/', '+', '"', ' ', '\', '%', '&', '=',
# a non-ASCII letter, and '>>?~', which make '+' and '/' in base64.
ODD = '0dd/S3c+r"e t\\\\%41&=\u00e9>>?~'
LEAKS = flow_file("leaks")


def b64_cores(raw):
    """The base64 characters that only the bytes of raw determine, at each
    of the three alignments inside a longer text (standard alphabet)."""
    cores = []
    for o in range(3):
        enc = base64.b64encode(b"\0" * o + raw + b"\0\0").decode()
        cores.append(enc[(8 * o + 5) // 6:8 * (o + len(raw)) // 6])
    return cores


def forms_of(secret):
    """Every form of secret that must never be seen: as is, cut short,
    JSON-escaped (once and twice, ASCII or not), percent-encoded (both
    cases, '+' for space), base64 alone and inside longer texts, standard
    and URL-safe, padded or not."""
    raw = secret.encode()
    b64 = [base64.b64encode(raw).decode(), base64.b64encode(b"user:" + raw).decode()]
    b64 += b64_cores(raw)
    b64 += [b.rstrip("=") for b in b64]
    b64 += [b.replace("+", "-").replace("/", "_") for b in b64]
    pct = urllib.parse.quote(secret, safe="")
    forms = {secret, secret[:9],
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             json.dumps(json.dumps(secret))[1:-1],
             pct, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), pct),
             urllib.parse.quote_plus(secret), urllib.parse.quote(secret)}
    forms |= {b for b in b64 if len(b) >= 8}
    return forms


ODD_FORMS = forms_of(ODD)
PLAIN_FORMS = forms_of(API_KEY)


def assert_no_form(text, where):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for f in sorted(ODD_FORMS | PLAIN_FORMS):
        assert f not in text, "form %r of a secret in %s" % (f, where)


def test_the_forms_are_what_the_flow_prints():
    """The forms hunted below are the ones flows/leaks.yaml makes (checked
    here against Python's own encoders, so that a wrong list cannot pass)."""
    assert base64.b64encode(b"user:" + ODD.encode()).decode() in ODD_FORMS
    assert "%2F" in urllib.parse.quote(ODD, safe="") and "\\\"" in json.dumps(ODD)
    assert any("+" in f for f in ODD_FORMS) and any("_" in f for f in ODD_FORMS)


def test_every_form_of_a_secret_is_redacted(run, progix, tmp_path):
    """A secret reaches an upstream's error body beyond the 200-byte excerpt
    (cut inside it), jq's error messages (which cut values), a URL query
    (percent-encoded), a Basic header and logs (base64), JSON-escaped text;
    no form of it is printed, listed, shown or stored."""
    store = tmp_path / "leaks" / "flowrun.db"
    store.parent.mkdir()
    env = {"FLOWRUN_STORE": "sqlite:%s" % store, "E2E_ODD_SECRET": ODD}
    # the upstream echoes the credential; JSON-escaped, it starts at byte 190
    # of the body, so the 200-byte excerpt would cut it after 10 bytes
    echo = "x" * 189 + ODD + " " + API_KEY + " and more"
    assert json.dumps(echo).index(json.dumps(ODD)[1:-1]) == 190
    executions = []
    for opts in ([], ["--json"], ["-v"], ["--log-format", "json", "-v"]):
        progix.post("/_admin/fail", {"method": "GET", "path": "/echo",
                                     "status": 500, "count": 1, "body": echo})
        r = run("run", LEAKS, "--set", "progix_url=" + progix.url, "--flow", "leak",
                *opts, env=env)
        assert r.rc == 1, r
        assert "answered 500" in r.stdout + r.stderr, r
        assert "xxxxxxxx" in r.stdout + r.stderr, r  # the excerpt is there
        assert "***" in r.stderr, r
        assert_no_form(r.stdout, "stdout of run %s" % opts)
        assert_no_form(r.stderr, "stderr of run %s" % opts)
        assert_no_secret(r)
        if "--json" in opts:
            t = r.json()
            executions.append(t["execution"])
            assert t["error"].count("***") >= 3, t["error"]  # URL twice, body
            assert step(t, "jq_odd")["error"] == 'string ("***) has no keys', t
            assert step(t, "jq_plain")["error"] == 'string ("***) has no keys', t
    # the upstream got the real thing, in every form it was sent
    got = [q for q in requests_of(progix) if q["path"] == "/echo"]
    assert len(got) == 4
    assert urllib.parse.parse_qs(got[0]["query"])["key"] == [ODD]
    assert got[0]["headers"]["authorization"] == "Basic " + base64.b64encode(
        b"user:" + ODD.encode()).decode()
    listed = run("runs", "--json", env=env)
    assert listed.rc == 0 and len(listed.json()) == 4, listed
    assert_no_form(listed.stdout, "runs --json")
    for ex in executions:
        for opts in ([], ["--json"], ["-v"]):
            shown = run("show", ex, *opts, env=env)
            assert shown.rc == 0 and ex in shown.stdout, shown
            assert_no_form(shown.stdout + shown.stderr, "show %s %s" % (ex, opts))
    files = [p for p in store.parent.rglob("*") if p.is_file()]
    assert files
    for p in files:
        data = p.read_bytes()
        for f in sorted(ODD_FORMS | PLAIN_FORMS):
            assert f.encode() not in data, "form %r of a secret in %s" % (f, p)


# -- control characters cannot forge log lines -------------------------------------

FORGED = "hello\nflowrun: error: forged line\r\x1b[2Kflowrun: info: x/y: also forged\x7f"


def assert_not_forged(text, where):
    for line in text.splitlines():
        assert not line.startswith(("flowrun: error: forged", "flowrun: info: x/y")), \
            "a forged line in %s: %r" % (where, line)
    assert "\x1b" not in text and "\r" not in text, where


def test_data_cannot_forge_a_log_line(run):
    for opts in ([], ["--json"], ["-v"]):
        r = run("run", LEAKS, "--flow", "forge", "--input", json.dumps({"msg": FORGED}),
                *opts, env={"E2E_ODD_SECRET": ODD})
        assert r.rc == 1, r
        assert_not_forged(r.stderr, "stderr of run %s" % opts)
        assert_not_forged(r.stdout, "stdout of run %s" % opts)
        # the log line and the error are there, escaped, on one line each
        assert ("forge ex_" in r.stderr and
                ": got hello\\nflowrun: error: forged line"
                "\\r\\x1b[2Kflowrun: info: x/y: also forged\\x7f" in r.stderr), r
    r = run("runs", env={"E2E_ODD_SECRET": ODD})
    assert r.rc == 0, r
    assert_not_forged(r.stdout, "runs")
    assert "hello\\nflowrun: error: forged line" in r.stdout, r


# -- serve: inbound credentials and forged lines ------------------------------------

def start_leaks(serve):
    return serve(LEAKS, "--connectors", CONNECTORS, env={"E2E_ODD_SECRET": ODD})


def wait_shown(run, ident):
    def done():
        r = run("show", ident, "--json")
        return r.json() if r.rc == 0 and r.json().get("status") in ("ok", "failed") else None
    return wait_for(done, 15, "execution %s to finish" % ident)


def test_serve_stores_inbound_credentials_as_stars(run, serve, tmp_path):
    srv = start_leaks(serve)
    creds = {"Authorization": "Bearer inbound-S3cret-bearer-77",
             "Proxy-Authorization": "Basic aW5ib3VuZDpwcm94eS1zZWNyZXQ=",
             "Cookie": "session=inbound-S3cret-cookie-42",
             "X-Other": "kept"}
    r = srv.post("/hooks/e2e-leaks/hook_creds", {"a": 1}, headers=creds)
    assert r.status == 202, r
    ids = [r.json()["execution"]]
    ex = wait_shown(run, ids[0])
    headers = ex["input"]["headers"]
    assert headers["authorization"] == "***", headers
    assert headers["proxy-authorization"] == "***", headers
    assert headers["cookie"] == "***", headers
    assert headers["x-other"] == "kept", headers
    # the flow sees them masked too
    assert ex["trace"]["output"]["cookie"] == "***", ex
    # a verified delivery: its signature header is a credential as well
    body = json.dumps({"b": 2}).encode()
    sig = "sha256=" + hmac.new(b"e2e-leaks-hook-S3cret", body, hashlib.sha256).hexdigest()
    r = srv.post("/hooks/e2e-leaks/hook_signed", body,
                 headers={"Content-Type": "application/json",
                          "X-Hub-Signature-256": sig, "Cookie": "c=inbound-S3cret-c2"})
    assert r.status == 202, r
    ids.append(r.json()["execution"])
    ex2 = wait_shown(run, ids[1])
    headers = ex2["input"]["headers"]
    assert headers["x-hub-signature-256"] == "***" and headers["cookie"] == "***", headers
    secrets = [v.split(" ", 1)[-1] for v in list(creds.values())[:3]]
    secrets += ["inbound-S3cret-cookie-42", "inbound-S3cret-c2", sig, sig[7:]]
    texts = [run("show", i, *o).stdout for i in ids for o in ([], ["--json"], ["-v"])]
    texts += [run("runs", "--json").stdout, srv.log()]
    store = serving.store_path(srv.env)
    texts += [p.read_bytes().decode("utf-8", "replace")
              for p in pathlib.Path(store).parent.glob(pathlib.Path(store).name + "*")]
    for t in texts:
        for s in secrets:
            assert s not in t, "inbound credential %r kept" % s


def test_serve_log_cannot_be_forged(serve):
    srv = start_leaks(serve)
    r = srv.post("/hooks/e2e-leaks/hook_forge", {"msg": FORGED})
    assert r.status == 202, r
    srv.wait_log(r"hook_forge \S+: got hello\\nflowrun: error: forged line", timeout=15)
    assert_not_forged(srv.log(), "the serve log")
