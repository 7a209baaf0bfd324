"""Secrets never appear in any output; a missing secret stops the run early."""

import json
import sqlite3

import pytest

from helpers import (CONNECTORS, PUBLIC_URL, SECRETS, account_input, add_accounts,
                     example_args, flow_file, requests_of, step)

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


@pytest.mark.parametrize("opts", [[], ["--json"], ["-v"]])
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


@pytest.mark.parametrize("opts", [[], ["--json"]])
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
