"""Tests of the GitHub stand-in (github.py) itself, through HTTP.

    python3 -m pytest -q tests/standins/test_github_standin.py
"""

import hashlib
import hmac
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import harness

TOKEN = "ghp_standinTest0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN, "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28"}
REPO = "/repos/octo-org/hello-world"


@pytest.fixture(scope="module")
def github_server():
    s = harness.start("github", "--token", TOKEN, "--max-per-page", "2",
                      "--repos", "octo-org/hello-world,octo-org/other")
    yield s
    assert s.stop() == 0


@pytest.fixture
def github(github_server):
    github_server.post("/_admin/reset")
    return github_server


class Receiver:
    """A webhook receiver on an ephemeral port, recording what it gets."""

    def __init__(self):
        received = self.received = []

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,),
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def links(r):
    """rel -> URL of a response's Link header."""
    return {rel: url for url, rel in
            re.findall(r'<([^>]+)>;\s*rel="([^"]+)"', r.headers.get("link", ""))}


def test_token_required(github):
    r = github.request("GET", REPO + "/hooks")
    assert r.status == 401
    assert r.json()["message"] == "Requires authentication"
    assert r.json()["documentation_url"].startswith("https://docs.github.com/")
    r = github.request("GET", REPO + "/hooks", headers={"Authorization": "Bearer nope"})
    assert r.status == 401 and r.json()["message"] == "Bad credentials"
    r = github.request("GET", REPO + "/hooks", headers={"Authorization": "token " + TOKEN})
    assert r.status == 200 and r.json() == []


def test_unknown_repo_and_api_version(github):
    r = github.request("GET", "/repos/octo-org/nope/issues", headers=AUTH)
    assert r.status == 404 and r.json()["message"] == "Not Found"
    r = github.request("GET", REPO + "/issues",
                       headers=dict(AUTH, **{"X-GitHub-Api-Version": "1999-01-01"}))
    assert r.status == 400


def test_rate_limit_headers_and_exhaustion(github):
    r1 = github.request("GET", REPO + "/issues", headers=AUTH)
    r2 = github.request("GET", REPO + "/issues", headers=AUTH)
    assert r1.headers["x-ratelimit-limit"] == "5000"
    assert int(r2.headers["x-ratelimit-remaining"]) == \
        int(r1.headers["x-ratelimit-remaining"]) - 1
    assert int(r2.headers["x-ratelimit-used"]) == 2
    assert r2.headers["x-ratelimit-resource"] == "core"
    assert int(r2.headers["x-ratelimit-reset"]) > 0
    github.post("/_admin/ratelimit", {"remaining": 0})
    r = github.request("GET", REPO + "/issues", headers=AUTH)
    assert r.status == 403 and "rate limit exceeded" in r.json()["message"]
    assert r.headers["x-ratelimit-remaining"] == "0"


def test_hooks_create_list_delete(github):
    body = {"name": "web", "events": ["issues"], "active": True,
            "config": {"url": "https://example.test/h", "content_type": "json",
                       "secret": "s3cret", "insecure_ssl": "0"}}
    r = github.request("POST", REPO + "/hooks", body, AUTH)
    assert r.status == 201, r
    hook = r.json()
    assert hook["config"]["secret"] == "********"
    assert hook["events"] == ["issues"] and hook["type"] == "Repository"
    # the same URL and events again: 422, as GitHub answers
    r = github.request("POST", REPO + "/hooks", body, AUTH)
    assert r.status == 422
    assert r.json()["errors"][0]["message"] == "Hook already exists on this repository"
    r = github.request("POST", REPO + "/hooks", {"config": {}}, AUTH)
    assert r.status == 422 and r.json()["message"] == "Validation Failed"
    r = github.request("POST", REPO + "/hooks", "{not json", AUTH)
    assert r.status == 400 and r.json()["message"] == "Problems parsing JSON"
    r = github.request("GET", REPO + "/hooks", headers=AUTH)
    assert [h["id"] for h in r.json()] == [hook["id"]]
    assert github.get("/_admin/hooks")["hooks"][0]["secret"] == "s3cret"
    r = github.request("DELETE", REPO + "/hooks/%d" % hook["id"], headers=AUTH)
    assert r.status == 204 and r.body == b""
    r = github.request("DELETE", REPO + "/hooks/%d" % hook["id"], headers=AUTH)
    assert r.status == 404
    # another repository's hooks are its own
    assert github.request("GET", "/repos/octo-org/other/hooks", headers=AUTH).json() == []


def test_link_header_pagination(github):
    for i in range(5):
        r = github.request("POST", REPO + "/issues", {"title": "t%d" % i}, AUTH)
        assert r.status == 201
    r = github.request("GET", REPO + "/issues?per_page=100&state=open", headers=AUTH)
    assert len(r.json()) == 2  # --max-per-page 2
    first = links(r)
    assert set(first) == {"next", "last"}
    assert first["next"] == github.url + REPO + "/issues?state=open&per_page=2&page=2"
    assert first["last"].endswith("page=3")
    seen, url, pages = [], github.url + REPO + "/issues?per_page=100", 0
    while url:
        r = github.request("GET", url[len(github.url):], headers=AUTH)
        pages += 1
        seen += [i["number"] for i in r.json()]
        rels = links(r)
        if pages == 2:
            assert set(rels) == {"prev", "next", "last", "first"}
        url = rels.get("next")
    assert pages == 3 and seen == [5, 4, 3, 2, 1]
    assert set(rels) == {"prev", "first"}
    github.post("/_admin/link_base", {"url": "http://elsewhere.test:81"})
    r = github.request("GET", REPO + "/issues", headers=AUTH)
    assert links(r)["next"].startswith("http://elsewhere.test:81/repos/")


def test_issue_and_comment_validation(github):
    r = github.request("POST", REPO + "/issues", {"body": "no title"}, AUTH)
    assert r.status == 422
    assert r.json()["errors"] == [{"resource": "Issue", "field": "title",
                                   "code": "missing_field"}]
    r = github.request("POST", REPO + "/issues", {"title": "ok", "labels": ["bug"]}, AUTH)
    assert r.status == 201 and r.json()["number"] == 1
    r = github.request("POST", REPO + "/issues/1/comments", {}, AUTH)
    assert r.status == 422 and r.json()["errors"][0]["code"] == "missing_field"
    r = github.request("POST", REPO + "/issues/9/comments", {"body": "x"}, AUTH)
    assert r.status == 404
    r = github.request("POST", REPO + "/issues/1/comments", {"body": "hello"}, AUTH)
    assert r.status == 201 and r.json()["body"] == "hello"
    r = github.request("GET", REPO + "/issues/1/comments", headers=AUTH)
    assert [c["body"] for c in r.json()] == ["hello"]
    r = github.request("GET", REPO + "/issues?labels=bug", headers=AUTH)
    assert [i["title"] for i in r.json()] == ["ok"]
    r = github.request("GET", REPO + "/issues?labels=nope", headers=AUTH)
    assert r.json() == []


def test_new_issues_are_delivered_signed(github):
    rx = Receiver()
    try:
        secret = "hook-s3cret"
        r = github.request("POST", REPO + "/hooks", {
            "events": ["issues"],
            "config": {"url": rx.url, "content_type": "json", "secret": secret}}, AUTH)
        assert r.status == 201
        got = github.post("/_admin/issues", {"repo": "octo-org/hello-world",
                                             "issues": [{"title": "Crash"}]})
        assert [d["status"] for d in got["deliveries"]] == [202]
        (headers, body), = rx.received
        assert headers["x-github-event"] == "issues"
        assert headers["x-github-delivery"]
        want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-hub-signature-256"] == want
        payload = json.loads(body)
        assert payload["action"] == "opened"
        assert payload["issue"]["title"] == "Crash"
        assert payload["repository"]["full_name"] == "octo-org/hello-world"
    finally:
        rx.close()
