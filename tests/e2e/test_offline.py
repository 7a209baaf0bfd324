"""--offline sends nothing: actions use --mock or their sample."""

import json

from helpers import (PUBLIC_URL, OUR_HOOK, account_input, example_args,
                     find_steps, requests_of, step)

ACCOUNTS = [{"id": "acc_1", "name": "Acme", "contact": "Ada", "email": "ada@acme.test"},
            {"id": "acc_2", "name": "Globex", "contact": "Hank", "email": "h@globex.test"}]


def test_offline_account_flow_sends_nothing(run, progix, slack):
    r = run("run", *example_args(progix, slack), "--flow", "account", "--offline",
            "--input", account_input("acc_1", "acc_2"),
            "--mock", "progix.get_accounts=" + json.dumps(ACCOUNTS), "--json")
    assert r.rc == 0, r
    assert requests_of(progix) == []
    assert requests_of(slack) == []
    t = r.json()
    assert t["dry_run"] is True and t["requests"] == 0 and t["writes_sent"] == 0
    collect = step(t, "collect")
    assert collect["output"] == ACCOUNTS
    assert not collect.get("http")
    # the writes show what they would send, and take the sample as output
    posts = find_steps(t["steps"], lambda s: s.get("action") == "slack.post_message")
    assert [p["request"]["body"]["text"] for p in posts] == [
        "New account Acme (Ada <ada@acme.test>)",
        "New account Globex (Hank <h@globex.test>)"]
    assert [p["output"]["ok"] for p in posts] == [True, True]
    assert t["writes_skipped"] == 2


def test_offline_mock_from_file(run, progix, slack, tmp_path):
    f = tmp_path / "accounts.json"
    f.write_text(json.dumps(ACCOUNTS[:1]))
    r = run("run", *example_args(progix, slack), "--flow", "account", "--offline",
            "--input", account_input("acc_1"),
            "--mock", "progix.get_accounts=@%s" % f, "--json")
    assert r.rc == 0, r
    assert step(r.json(), "collect")["output"] == ACCOUNTS[:1]
    assert requests_of(progix) == [] and requests_of(slack) == []


def test_offline_mock_of_a_write(run, progix, slack):
    r = run("run", *example_args(progix, slack), "--flow", "account", "--offline",
            "--input", account_input("acc_1"),
            "--mock", "progix.get_accounts=" + json.dumps(ACCOUNTS[:1]),
            "--mock", 'slack.post_message={"ok":true,"ts":"mocked"}', "--json")
    assert r.rc == 0, r
    assert r.json()["output"] == [{"ok": True, "ts": "mocked"}]
    assert requests_of(slack) == []


def test_offline_deploy_with_mocked_list(run, progix):
    r = run("run", *example_args(progix), "--flow", "deploy", "--offline",
            "--public-url", PUBLIC_URL, "--mock", "progix.list_webhooks=[]",
            "--json")
    assert r.rc == 0, r
    assert requests_of(progix) == []
    t = r.json()
    create = step(t, "create")
    assert create["request"]["method"] == "POST"
    assert create["request"]["body"]["url"] == OUR_HOOK
    assert create["output"]["id"] == "wh_dry_run"


def test_offline_action_without_mock_or_sample_fails(run, progix):
    # list_webhooks is a read with no sample
    r = run("run", *example_args(progix), "--flow", "deploy", "--offline",
            "--public-url", PUBLIC_URL)
    assert r.rc == 1, r
    assert requests_of(progix) == []
    err = r.stderr
    assert "offline" in err, err
    assert "progix.list_webhooks" in err, err
    assert "--mock" in err, err  # says how to fix it
    assert "list" in err  # the step


def test_offline_account_flow_without_mock_fails(run, progix, slack):
    r = run("run", *example_args(progix, slack), "--flow", "account", "--offline",
            "--input", account_input("acc_1"), "--json")
    assert r.rc == 1, r
    assert requests_of(progix) == [] and requests_of(slack) == []
    t = r.json()
    assert t["status"] == "failed"
    assert "progix.get_accounts" in t["error"] and "--mock" in t["error"]
    assert step(t, "collect")["status"] == "failed"
    # nothing after the failed step ran
    later = find_steps(t["steps"], lambda s: s.get("id") in ("messages", "post"))
    assert all(s["status"] == "skipped" for s in later), later


THINGS_CONNECTOR = """connector: things
inputs:
  base_url: { required: true }
  key: { required: true, secret: true }
http:
  base_url: "${{ .connection.base_url }}"
  headers: { Authorization: "Bearer ${{ .connection.key }}" }
actions:
  list:
    effect: read
    method: GET
    path: /things
  create:
    effect: write
    method: POST
    path: /things
    body: { name: "${{ .input.name }}" }
"""

THINGS_FLOW = """integration: things
config:
  url: { default: "http://127.0.0.1:9" }
  key: { secret: true, env: THINGS_KEY }
  hook_secret: { secret: true, env: THINGS_HOOK_SECRET }
connections:
  things: { connector: things, with: { base_url: "${{ .config.url }}", key: "${{ .config.key }}" } }
flows:
  make:
    steps:
      - id: create
        action: things.create
        with: { name: widget }
      - transform: '{made: .steps.create}'
  look:
    steps:
      - id: list
        action: things.list
  hook:
    trigger:
      webhook:
        verify: { scheme: hmac-sha256, header: X-Sig, secret: "${{ .config.hook_secret }}" }
    steps:
      - log: "${{ .trigger.body.name }}"
"""


def things_project(tmp_path):
    root = tmp_path / "things"
    (root / "flows").mkdir(parents=True)
    (root / "connectors").mkdir()
    (root / "flows" / "things.yaml").write_text(THINGS_FLOW)
    (root / "connectors" / "things.yaml").write_text(THINGS_CONNECTOR)
    return str(root / "flows")


def test_offline_write_without_sample_is_as_in_a_dry_run(run, tmp_path):
    flows = things_project(tmp_path)
    r = run("run", flows, "--flow", "make", "--offline", "--json",
            env={"THINGS_KEY": "k-Th1ngs-S3cret"})
    assert r.rc == 0, r
    t = r.json()
    assert t["output"] == {"made": {}}
    assert step(t, "create")["request"]["method"] == "POST"
    assert t["writes_skipped"] == 1
    # a read without sample still needs a mock
    r = run("run", flows, "--flow", "look", "--offline",
            env={"THINGS_KEY": "k-Th1ngs-S3cret"})
    assert r.rc == 1, r
    assert "offline: things.list has no sample; give --mock things.list=JSON" in r.stderr, r


def test_run_asks_only_for_the_secrets_it_uses(run, tmp_path):
    # the webhook's verify secret is serve's, not run's: not asked for
    flows = things_project(tmp_path)
    r = run("run", flows, "--flow", "make", "--offline",
            env={"THINGS_KEY": "k-Th1ngs-S3cret"}, unset=["THINGS_HOOK_SECRET"])
    assert r.rc == 0, r
    assert "hook_secret" not in r.stderr, r
    # the connection's key is used by the action: asked for, by name
    r = run("run", flows, "--flow", "make", "--offline",
            unset=["THINGS_KEY", "THINGS_HOOK_SECRET"])
    assert r.rc == 4, r
    assert "missing secret config value 'key'" in r.stderr, r
    assert "hook_secret" not in r.stderr, r
    # a flow that reads no config asks for nothing
    r = run("run", flows, "--flow", "hook", "--offline", "--input", '{"name": "x"}',
            unset=["THINGS_KEY", "THINGS_HOOK_SECRET"])
    assert r.rc == 0, r


def test_deploy_dry_run_asks_only_for_the_secrets_it_uses(run, progix):
    # the example's deploy flow uses the Progix key, not the webhook secret
    # nor the Slack token
    r = run("deploy", *example_args(progix), "--dry-run", "--public-url", PUBLIC_URL,
            unset=["PROGIX_WEBHOOK_SECRET", "SLACK_TOKEN"])
    assert r.rc == 0, r
    assert "webhook_secret" not in r.stderr and "slack_token" not in r.stderr, r
    r = run("deploy", *example_args(progix), "--dry-run", "--public-url", PUBLIC_URL,
            unset=["PROGIX_API_KEY", "PROGIX_WEBHOOK_SECRET", "SLACK_TOKEN"])
    assert r.rc == 4, r
    assert "progix_api_key" in r.stderr, r
    assert "webhook_secret" not in r.stderr and "slack_token" not in r.stderr, r
