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
