"""The example's webhook flow `account` against the Progix and Slack stand-ins."""

import urllib.parse

from helpers import (account_input, add_accounts, example_args, find_steps,
                     messages_of, requests_of, step)

ACCOUNTS = [
    {"name": "Acme", "contact": "Ada Lovelace", "email": "ada@acme.test"},
    {"name": "Globex", "contact": "Hank Scorpio", "email": "hank@globex.test"},
    {"name": "Initech", "contact": "Bill Lumbergh", "email": "bill@initech.test"},
]


def text_of(a):
    return "New account %s (%s <%s>)" % (a["name"], a["contact"], a["email"])


def test_one_message_per_account(run, progix, slack):
    ids = add_accounts(progix, *ACCOUNTS)
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids))
    assert r.rc == 0, r

    got = messages_of(slack)
    assert [m["text"] for m in got] == [text_of(a) for a in ACCOUNTS], r
    assert {m["channel"] for m in got} == {"#newaccount"}

    # one GET of the accounts, asking for exactly the ids of the event
    reqs = requests_of(progix)
    assert [(q["method"], q["path"]) for q in reqs] == [("GET", "/accounts")], reqs
    query = urllib.parse.parse_qs(reqs[0]["query"])
    assert sorted(query["ids"][0].split(",")) == sorted(ids), reqs[0]
    # one POST per account, and nothing else
    sreqs = requests_of(slack)
    assert [(q["method"], q["path"]) for q in sreqs] == \
        [("POST", "/api/chat.postMessage")] * len(ACCOUNTS)


def test_only_the_accounts_of_the_event(run, progix, slack):
    ids = add_accounts(progix, *ACCOUNTS)
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(ids[1]))
    assert r.rc == 0, r
    assert [m["text"] for m in messages_of(slack)] == [text_of(ACCOUNTS[1])]


def test_configured_channel(run, progix, slack):
    ids = add_accounts(progix, *ACCOUNTS[:2])
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--set", "slack_channel=#general", "--input", account_input(*ids))
    assert r.rc == 0, r
    got = messages_of(slack)
    assert len(got) == 2
    assert {m["channel"] for m in got} == {"#general"}


def test_json_trace_of_a_real_run(run, progix, slack):
    ids = add_accounts(progix, *ACCOUNTS[:2])
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), "--json")
    assert r.rc == 0, r
    t = r.json()
    assert t["status"] == "ok" and t["error"] is None
    assert t["flow"] == "account" and t["integration"] == "progix-to-slack"
    assert t["dry_run"] is False
    assert t["requests"] == 3 and t["writes_sent"] == 2 and t["writes_skipped"] == 0
    collect = step(t, "collect")
    assert collect["status"] == "ok"
    assert [h["status"] for h in collect["http"]] == [200]
    assert collect["http"][0]["method"] == "GET"
    assert collect["http"][0]["url"].startswith(progix.url + "/accounts?ids=")
    assert [a["name"] for a in collect["output"]] == ["Acme", "Globex"]
    post = step(t, "post")
    assert len(post["iterations"]) == 2
    assert [o["ok"] for o in post["output"]] == [True, True]
    assert t["output"] == post["output"]
    posts = find_steps(t["steps"], lambda s: s.get("action") == "slack.post_message")
    assert [p["status"] for p in posts] == ["ok", "ok"]
    assert all(p["http"][0]["status"] == 200 for p in posts)


def test_no_accounts_no_messages(run, progix, slack):
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input())
    assert r.rc == 0, r
    assert messages_of(slack) == []
    assert requests_of(slack) == []


# -- dry-run ------------------------------------------------------------------

def test_dry_run_reads_but_does_not_post(run, progix, slack):
    ids = add_accounts(progix, *ACCOUNTS[:2])
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), "--dry-run", "--json")
    assert r.rc == 0, r
    assert requests_of(slack) == [] and messages_of(slack) == []
    reqs = requests_of(progix)
    assert [(q["method"], q["path"]) for q in reqs] == [("GET", "/accounts")]
    t = r.json()
    assert t["dry_run"] is True
    assert t["writes_sent"] == 0 and t["writes_skipped"] == 2
    posts = find_steps(t["steps"], lambda s: s.get("action") == "slack.post_message")
    assert [p["status"] for p in posts] == ["dry-run", "dry-run"]
    assert [p["request"]["body"]["text"] for p in posts] == \
        [text_of(a) for a in ACCOUNTS[:2]]
    assert all(p["request"]["url"] == slack.url + "/api/chat.postMessage"
               for p in posts)


def test_dry_run_text_output(run, progix, slack):
    ids = add_accounts(progix, ACCOUNTS[0])
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), "--dry-run")
    assert r.rc == 0, r
    assert requests_of(slack) == []
    assert "POST %s/api/chat.postMessage" % slack.url in r.stdout
    assert text_of(ACCOUNTS[0]) in r.stdout


# -- Slack's ok:false ----------------------------------------------------------

def test_unknown_channel_is_a_step_error(run, progix, slack):
    ids = add_accounts(progix, ACCOUNTS[0])
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--set", "slack_channel=#nope", "--input", account_input(*ids))
    assert r.rc == 1, r
    assert "channel_not_found" in r.stderr, r
    assert "post" in r.stderr  # the step (the loop holding the action)
    assert messages_of(slack) == []


def test_unknown_channel_json_trace(run, progix, slack):
    ids = add_accounts(progix, ACCOUNTS[0])
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--set", "slack_channel=#nope", "--input", account_input(*ids),
            "--json")
    assert r.rc == 1, r
    t = r.json()
    assert t["status"] == "failed"
    assert "channel_not_found" in t["error"]
    posts = find_steps(t["steps"], lambda s: s.get("action") == "slack.post_message")
    assert len(posts) == 1 and posts[0]["status"] == "failed"
    assert "channel_not_found" in posts[0]["error"]
    assert step(t, "post")["status"] == "failed"


def test_bad_slack_token_is_a_step_error(run, progix, slack):
    ids = add_accounts(progix, ACCOUNTS[0])
    bad = "xoxb-wrong-token-0000"
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), env={"SLACK_TOKEN": bad})
    assert r.rc == 1, r
    assert "invalid_auth" in r.stderr, r
    assert bad not in r.stdout + r.stderr
    assert messages_of(slack) == []
    # the failure stops the loop: one attempt, not one per account
    assert len(requests_of(slack)) == 1
