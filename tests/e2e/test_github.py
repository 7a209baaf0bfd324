"""The GitHub connector (connectors/github.yaml) against its stand-in
(tests/standins/github.py) through `flowrun run`, and the example
flows/github-issues.yaml through `flowrun deploy`, `serve` and `undeploy`:
Link-header pagination over several pages, a next URL on another host
refused, GitHub's errors as step errors, retries, and the token never in
any output.  The token and webhook secret are made at run time."""

import json
import os
import re
import secrets

import pytest

import harness
from helpers import ROOT
from serving import hmac_hex, make_project, store_path, wait_for

TOKEN = "ghp_" + secrets.token_hex(18)
HOOK_SECRET = "ghwh_" + secrets.token_hex(12)
REPO = "octo-org/hello-world"
EXAMPLE = os.path.join(ROOT, "flows", "github-issues.yaml")

ACTIONS = ("list_repo_webhooks", "create_repo_webhook", "delete_repo_webhook",
           "list_issues", "create_issue", "list_issue_comments",
           "create_issue_comment")

LAB = """\
integration: gh-lab
config:
  github_url: { default: "https://api.github.com" }
  github_token: { secret: true, env: GH_LAB_TOKEN }
connections:
  github:
    connector: github
    with: { base_url: "${{ .config.github_url }}", token: "${{ .config.github_token }}" }
flows:
""" + "".join("""\
  %s:
    trigger: manual
    steps:
      - id: out
        action: github.%s
        with: "${{ .trigger }}"
""" % (a, a) for a in ACTIONS)


@pytest.fixture(scope="module")
def github_server():
    s = harness.start("github", "--token", TOKEN, "--max-per-page", "2",
                      "--repos", REPO + ",octo-org/other", "--ping")
    yield s
    s.stop()


@pytest.fixture
def github(github_server):
    assert github_server.running(), github_server.log
    github_server.post("/_admin/reset")
    return github_server


@pytest.fixture
def lab(tmp_path, run, github):
    """lab(ACTION, INPUT, env=...) runs flow ACTION of the lab integration
    (one step calling github.ACTION with INPUT) against the stand-in; the
    Result, with .doc the --json document."""
    flows = make_project(str(tmp_path / "lab"))
    path = os.path.join(flows, "gh-lab.yaml")
    with open(path, "w") as f:
        f.write(LAB)

    def _lab(action, given, env=None, *more):
        e = {"GH_LAB_TOKEN": TOKEN}
        e.update(env or {})
        r = run("run", path, "--flow", action, "--input", json.dumps(given),
                "--set", "github_url=" + github.url, "--json", *more, env=e)
        assert TOKEN not in r.stdout + r.stderr, r
        r.doc = r.json()
        return r
    return _lab


def api_requests(github):
    return github.get("/_admin/requests")["requests"]


def says(text, key, value):
    """Whether text holds the JSON member "key": "value" (any spacing)."""
    return re.search(r'"%s":\s*"%s"' % (re.escape(key), re.escape(value)),
                     text) is not None


def add_issues(github, n, **extra):
    for i in range(n):
        got = github.post("/_admin/issues", {"repo": REPO, "deliver": False,
                                             "issues": [dict(extra, title="issue %d" % i)]})
        assert got["issues"]
    return n


# -- pagination ---------------------------------------------------------------------

def test_issues_over_three_pages_by_link_header(lab, github):
    add_issues(github, 5)
    r = lab("list_issues", {"owner": "octo-org", "repo": "hello-world"})
    assert r.rc == 0 and r.doc["status"] == "ok", r
    assert [i["number"] for i in r.doc["output"]] == [5, 4, 3, 2, 1]
    reqs = api_requests(github)
    assert [q["query"] for q in reqs] == [
        "per_page=100", "per_page=2&page=2", "per_page=2&page=3"]
    for q in reqs:
        assert q["path"] == "/repos/octo-org/hello-world/issues"
        assert q["status"] == 200
        assert q["headers"]["authorization"] == "Bearer " + TOKEN
        assert q["headers"]["accept"] == "application/vnd.github+json"
        assert q["headers"]["x-github-api-version"] == "2022-11-28"
    assert r.doc["requests"] == 3


def test_filters_are_kept_on_every_page(lab, github):
    add_issues(github, 3, labels=["bug"])
    add_issues(github, 2)
    r = lab("list_issues", {"owner": "octo-org", "repo": "hello-world",
                            "labels": ["bug"], "state": "all"})
    assert r.rc == 0, r
    assert len(r.doc["output"]) == 3
    queries = [q["query"] for q in api_requests(github)]
    assert len(queries) == 2 and all("labels=bug" in q and "state=all" in q
                                     for q in queries), queries


def test_comments_and_hooks_page_too(lab, github):
    add_issues(github, 1)
    for i in range(3):
        r = lab("create_issue_comment", {"owner": "octo-org", "repo": "hello-world",
                                         "issue_number": 1, "body": "c%d" % i})
        assert r.rc == 0 and r.doc["output"]["body"] == "c%d" % i, r
    r = lab("list_issue_comments", {"owner": "octo-org", "repo": "hello-world",
                                    "issue_number": 1})
    assert [c["body"] for c in r.doc["output"]] == ["c0", "c1", "c2"], r
    for i in range(3):
        r = lab("create_repo_webhook", {"owner": "octo-org", "repo": "hello-world",
                                        "url": "https://h%d.example.test/" % i,
                                        "events": ["issues"]})
        assert r.rc == 0, r
    r = lab("list_repo_webhooks", {"owner": "octo-org", "repo": "hello-world"})
    assert len(r.doc["output"]) == 3, r
    assert r.doc["requests"] == 2


def test_an_empty_list_is_one_page(lab, github):
    r = lab("list_issues", {"owner": "octo-org", "repo": "other"})
    assert r.rc == 0 and r.doc["output"] == [], r
    assert len(api_requests(github)) == 1


def test_a_next_url_on_another_host_is_refused(lab, github):
    add_issues(github, 5)
    # the same server under another name: a hostile API could send the
    # token anywhere this way
    github.post("/_admin/link_base", {"url": "http://localhost:%d" % github.port})
    r = lab("list_issues", {"owner": "octo-org", "repo": "hello-world"})
    assert r.rc == 1 and r.doc["status"] == "failed", r
    assert "refused to follow the next page's URL 'http://localhost:%d/repos/" \
        % github.port in r.doc["error"], r
    assert "not on http://127.0.0.1:%d" % github.port in r.doc["error"], r
    assert len(api_requests(github)) == 1  # nothing was sent to it
    github.post("/_admin/link_base", {"url": "https://127.0.0.1:%d" % github.port})
    r = lab("list_issues", {"owner": "octo-org", "repo": "hello-world"})
    assert r.rc == 1 and "refused to follow" in r.doc["error"], r


# -- errors -------------------------------------------------------------------------

def test_errors_are_step_errors_with_githubs_message(lab, github):
    r = lab("list_issues", {"owner": "octo-org", "repo": "missing"})
    assert r.rc == 1, r
    assert "GET %s/repos/octo-org/missing/issues?per_page=100 answered 404" \
        % github.url in r.doc["error"], r
    assert says(r.doc["error"], "message", "Not Found"), r

    r = lab("list_issues", {"owner": "octo-org", "repo": "hello-world"},
            {"GH_LAB_TOKEN": "ghp_" + secrets.token_hex(18)})
    assert r.rc == 1 and "answered 401" in r.doc["error"], r
    assert says(r.doc["error"], "message", "Bad credentials"), r

    r = lab("create_issue", {"owner": "octo-org", "repo": "hello-world",
                             "body": "no title"})
    assert r.rc == 1, r
    assert "POST %s/repos/octo-org/hello-world/issues answered 422" \
        % github.url in r.doc["error"], r
    assert says(r.doc["error"], "message", "Validation Failed"), r
    assert says(r.doc["error"], "code", "missing_field"), r

    r = lab("create_repo_webhook", {"owner": "octo-org", "repo": "hello-world",
                                    "url": "https://same.example.test/"})
    assert r.rc == 0, r
    r = lab("create_repo_webhook", {"owner": "octo-org", "repo": "hello-world",
                                    "url": "https://same.example.test/"})
    assert r.rc == 1 and "Hook already exists on this repository" in r.doc["error"], r


def test_create_and_delete_a_hook(lab, github):
    r = lab("create_repo_webhook", {"owner": "octo-org", "repo": "hello-world",
                                    "url": "https://ci.example.test/hook",
                                    "events": ["issues", "push"],
                                    "secret": HOOK_SECRET})
    assert r.rc == 0, r
    hook = r.doc["output"]
    assert hook["config"] == {"url": "https://ci.example.test/hook",
                              "content_type": "json", "insecure_ssl": "0",
                              "secret": "********"}
    (stored,) = github.get("/_admin/hooks")["hooks"]
    assert stored["secret"] == HOOK_SECRET and stored["events"] == ["issues", "push"]
    r = lab("delete_repo_webhook", {"owner": "octo-org", "repo": "hello-world",
                                    "hook_id": hook["id"]})
    assert r.rc == 0 and r.doc["output"] is None, r
    assert github.get("/_admin/hooks")["hooks"] == []
    r = lab("delete_repo_webhook", {"owner": "octo-org", "repo": "hello-world",
                                    "hook_id": hook["id"]})
    assert r.rc == 1 and "answered 404" in r.doc["error"], r


def test_429_is_retried_after_retry_after_and_writes_are_not(lab, github):
    github.post("/_admin/fail", {"method": "GET", "status": 429, "count": 1,
                                 "retry_after": 1})
    r = lab("list_issues", {"owner": "octo-org", "repo": "hello-world"})
    assert r.rc == 0 and r.doc["output"] == [], r
    assert [q["status"] for q in api_requests(github)] == [429, 200]

    github.post("/_admin/reset")
    add_issues(github, 1)
    github.post("/_admin/fail", {"method": "POST", "status": 502, "count": 1})
    r = lab("create_issue_comment", {"owner": "octo-org", "repo": "hello-world",
                                     "issue_number": 1, "body": "once"})
    assert r.rc == 1 and "answered 502" in r.doc["error"], r
    assert [q["status"] for q in api_requests(github)] == [502]
    assert github.get("/_admin/comments")["comments"] == []


def test_an_exhausted_rate_limit_fails_with_githubs_message(lab, github):
    github.post("/_admin/ratelimit", {"remaining": 0})
    r = lab("list_issues", {"owner": "octo-org", "repo": "hello-world"})
    assert r.rc == 1 and "answered 403" in r.doc["error"], r
    assert "API rate limit exceeded" in r.doc["error"], r


def test_the_token_is_in_no_output_trace_or_store(lab, github, run, base_env):
    add_issues(github, 3)
    ids = []
    for action, given in (
            ("list_issues", {"owner": "octo-org", "repo": "hello-world"}),
            ("create_issue", {"owner": "octo-org", "repo": "hello-world"}),
            ("create_issue_comment", {"owner": "octo-org", "repo": "hello-world",
                                      "issue_number": 1, "body": "hi"})):
        r = lab(action, given, None, "-v")
        ids.append(r.doc["execution"])
        assert "> Authorization: ***\n" in r.stderr, r
    r = lab("list_issues", {"owner": "octo-org", "repo": "hello-world"}, None,
            "--dry-run")
    assert r.rc == 0, r
    r = lab("create_issue", {"owner": "octo-org", "repo": "hello-world",
                             "title": "t"}, None, "--dry-run")
    assert r.rc == 0 and r.doc["dry_run"], r
    assert "Bearer " + TOKEN not in json.dumps(r.doc)
    r = run("runs", "--json")
    assert r.rc == 0 and TOKEN not in r.stdout + r.stderr, r
    for ident in ids:
        r = run("show", ident, "--json")
        assert r.rc == 0 and TOKEN not in r.stdout + r.stderr, r
        assert ident in r.stdout
    with open(store_path(base_env), "rb") as f:
        assert TOKEN.encode() not in f.read()


# -- the example: deploy, a signed webhook through serve, undeploy ---------------------

def example_env():
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_WEBHOOK_SECRET": HOOK_SECRET,
            "GITHUB_ISSUES_REPO": REPO}


def test_the_example_comments_on_new_issues(run, serve, project, github, tmp_path):
    flows = project(EXAMPLE)
    sets = ["--set", "github_url=" + github.url]
    srv = serve(flows, *sets, env=example_env())
    hook_url = srv.url + "/hooks/github-issues/issue"
    for _ in range(2):  # the second deploy finds the hook and adds none
        r = run("deploy", flows, "--public-url", srv.url, *sets, env=example_env())
        assert r.rc == 0, r
        assert TOKEN not in r.stdout + r.stderr and HOOK_SECRET not in r.stdout + r.stderr
    (hook,) = github.get("/_admin/hooks")["hooks"]
    assert hook["config"]["url"] == hook_url and hook["events"] == ["issues"]
    assert hook["secret"] == HOOK_SECRET and hook["config"]["content_type"] == "json"

    # the ping GitHub sends to a new hook is verified and changes nothing
    ping = wait_for(lambda: [d for d in github.get("/_admin/deliveries")["deliveries"]
                             if d["event"] == "ping"], 10, "the ping delivery")
    assert ping[0]["status"] == 202, ping

    got = github.post("/_admin/issues", {"repo": REPO, "issues": [
        {"title": "It crashes"}, {"title": "It crashes again"}]})
    assert [d["status"] for d in got["deliveries"]] == [202, 202], got
    comments = wait_for(lambda: (lambda c: c if len(c) >= 2 else None)(
        github.get("/_admin/comments")["comments"]), 15, "two comments")
    assert sorted(c["issue_number"] for c in comments) == [1, 2]
    assert all(c["body"].startswith("@octocat thanks for opening this issue!")
               for c in comments), comments

    # a delivery signed with another secret is refused, one without too
    body = json.dumps({"action": "opened",
                       "issue": {"number": 1, "user": {"login": "ada"}},
                       "repository": {"name": "hello-world",
                                      "owner": {"login": "octo-org"}}}).encode()
    headers = {"X-GitHub-Event": "issues", "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=" + hmac_hex("not-the-secret", body)}
    assert srv.post("/hooks/github-issues/issue", body, headers).status == 401
    del headers["X-Hub-Signature-256"]
    assert srv.post("/hooks/github-issues/issue", body, headers).status == 401
    # the same delivery again (same X-GitHub-Delivery) runs nothing
    headers["X-Hub-Signature-256"] = "sha256=" + hmac_hex(HOOK_SECRET, body)
    headers["X-GitHub-Delivery"] = "d-" + secrets.token_hex(4)
    first = srv.post("/hooks/github-issues/issue", body, headers)
    again = srv.post("/hooks/github-issues/issue", body, headers)
    assert first.status == 202 and again.status == 200, (first, again)
    assert again.json()["duplicate"] is True
    assert again.json()["execution"] == first.json()["execution"]
    comments = wait_for(lambda: (lambda c: c if len(c) >= 3 else None)(
        github.get("/_admin/comments")["comments"]), 15, "the third comment")
    assert comments[2]["body"].startswith("@ada thanks"), comments

    r = run("runs", "--json")
    assert r.rc == 0 and TOKEN not in r.stdout and HOOK_SECRET not in r.stdout
    assert TOKEN not in srv.log() and HOOK_SECRET not in srv.log()

    r = run("undeploy", flows, "--public-url", srv.url, *sets, env=example_env())
    assert r.rc == 0, r
    assert github.get("/_admin/hooks")["hooks"] == []
