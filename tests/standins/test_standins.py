"""Tests of the stand-ins themselves, through HTTP.

    python3 -m pytest -q tests/standins
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import harness

KEY, SECRET, TOKEN = "test-key", "test-secret", "xoxb-test"
AUTH = {"Authorization": "Bearer " + KEY}
SLACK_AUTH = {"Authorization": "Bearer " + TOKEN}


@pytest.fixture(scope="module")
def progix_server():
    s = harness.start("progix", "--api-key", KEY, "--webhook-secret", SECRET)
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def slack_server():
    s = harness.start("slack", "--token", TOKEN, "--channels", "#newaccount,#general")
    yield s
    assert s.stop() == 0


@pytest.fixture
def progix(progix_server):
    progix_server.post("/_admin/reset")
    return progix_server


@pytest.fixture
def slack(slack_server):
    slack_server.post("/_admin/reset")
    return slack_server


class Receiver:
    """A tiny webhook receiver on an ephemeral port, recording what it gets."""

    def __init__(self, status=200):
        received = self.received = []

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                data = b'{"ok":true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    """A port nothing listens on (bound, then closed)."""
    s = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = s.server_address[1]
    s.server_close()
    return port


# -- harness and process life ---------------------------------------------------

def test_start_writes_portfile_and_stops_on_sigterm():
    s = harness.start("progix", "--api-key", KEY, "--webhook-secret", SECRET)
    try:
        with open(os.path.join(s.tmpdir, "port")) as f:
            assert int(f.read()) == s.port
        assert s.url == "http://127.0.0.1:%d" % s.port
        assert s.running()
    finally:
        assert s.stop() == 0
    assert not s.running()
    with pytest.raises(ProcessLookupError):
        os.kill(s.pid, 0)
    assert not os.path.exists(s.tmpdir)


def test_sigint_stops_too():
    with harness.start("slack", "--token", TOKEN) as s:
        os.kill(s.pid, signal.SIGINT)
        assert s.proc.wait(5) == 0


def test_start_failure_is_reported():
    with pytest.raises(RuntimeError, match="required"):
        harness.start("progix")  # missing --api-key/--webhook-secret
    assert all(x.running() for x in harness._running)  # the failed one is gone


def test_keep_alive_and_content_length(progix):
    conn = http.client.HTTPConnection("127.0.0.1", progix.port, timeout=10)
    try:
        def call(method, path, body=None, headers=AUTH):
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 204:
                assert int(r.getheader("Content-Length")) == len(data)
            return r.status, data

        assert call("GET", "/webhooks", headers={})[0] == 401
        status, data = call("POST", "/webhooks", json.dumps({"url": "http://h/x"}),
                            dict(AUTH, **{"Content-Type": "application/json"}))
        assert status == 201
        assert call("DELETE", "/webhooks/" + json.loads(data)["id"]) == (204, b"")
        assert call("GET", "/nowhere")[0] == 404
        # a chunked request body is read too
        chunks = iter([b'{"url":', b'"http://h/y"}'])
        conn.request("POST", "/webhooks", body=chunks, headers=AUTH,
                     encode_chunked=True)
        r = conn.getresponse()
        assert r.status == 201 and json.loads(r.read())["url"] == "http://h/y"
        assert call("GET", "/webhooks")[0] == 200
    finally:
        conn.close()


# -- progix ---------------------------------------------------------------------

def test_auth_required(progix):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        for method, path in (("GET", "/webhooks"), ("GET", "/accounts?ids=a"),
                             ("DELETE", "/webhooks/wh_1")):
            r = progix.request(method, path, headers=headers)
            assert r.status == 401, (method, path, headers)
            assert r.json() == {"error": "unauthorized"}
    assert progix.request("GET", "/webhooks", headers=AUTH).status == 200
    assert progix.get("/_admin/webhooks") == {"webhooks": []}


def test_pagination_walks_all_webhooks(progix):
    urls = ["http://h/%d" % i for i in range(5)]
    for u in urls:
        r = progix.request("POST", "/webhooks", {"url": u, "events": ["x"]}, AUTH)
        assert r.status == 201
    seen, pages, cursor = [], 0, None
    while True:
        path = "/webhooks"
        if cursor is not None:
            path += "?" + urllib.parse.urlencode({"cursor": cursor})
        r = progix.request("GET", path, headers=AUTH)
        assert r.status == 200
        body = r.json()
        assert len(body["data"]) <= 2
        pages += 1
        seen += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert pages == 3
    assert [w["url"] for w in seen] == urls
    assert [w["id"] for w in seen] == ["wh_%d" % i for i in range(1, 6)]
    r = progix.request("GET", "/webhooks?cursor=garbage!", headers=AUTH)
    assert r.status == 400 and "error" in r.json()


def test_exact_page_has_no_next_cursor(progix):
    for i in range(2):
        progix.request("POST", "/webhooks", {"url": "http://h/%d" % i}, AUTH)
    body = progix.request("GET", "/webhooks", headers=AUTH).json()
    assert len(body["data"]) == 2 and body["next_cursor"] is None


def test_create_and_delete_webhook(progix):
    r = progix.request("POST", "/webhooks",
                       {"url": "http://h/a", "events": ["account.created"]}, AUTH)
    assert r.status == 201
    assert r.json() == {"id": "wh_1", "url": "http://h/a", "events": ["account.created"]}
    r = progix.request("POST", "/webhooks", {"events": []}, AUTH)
    assert r.status == 400 and "url" in r.json()["error"]
    r = progix.request("POST", "/webhooks", b"{not json",
                       dict(AUTH, **{"Content-Type": "application/json"}))
    assert r.status == 400 and "error" in r.json()
    assert progix.request("DELETE", "/webhooks/wh_1", headers=AUTH).status == 204
    r = progix.request("DELETE", "/webhooks/wh_1", headers=AUTH)
    assert r.status == 404 and "error" in r.json()
    assert progix.request("GET", "/webhooks", headers=AUTH).json()["data"] == []
    assert progix.request("PUT", "/webhooks", {}, AUTH).status == 405


def test_accounts_by_ids(progix):
    made = progix.post("/_admin/accounts", {"deliver": False, "accounts": [
        {"name": "Acme", "contact": "Ann", "email": "ann@acme.test"},
        {"name": "Bolt", "contact": "Bob", "email": "bob@bolt.test"},
        {"name": "Coda", "contact": "Cy", "email": "cy@coda.test"}]})
    assert [a["id"] for a in made["accounts"]] == ["acc_1", "acc_2", "acc_3"]
    assert made["deliveries"] == []
    r = progix.request("GET", "/accounts?ids=acc_3,nope,acc_1", headers=AUTH)
    assert r.status == 200
    assert r.json() == {"accounts": [
        {"id": "acc_3", "name": "Coda", "contact": "Cy", "email": "cy@coda.test"},
        {"id": "acc_1", "name": "Acme", "contact": "Ann", "email": "ann@acme.test"}]}
    r = progix.request("GET", "/accounts?ids=acc_2%2Cacc_1", headers=AUTH)  # encoded ,
    assert [a["id"] for a in r.json()["accounts"]] == ["acc_2", "acc_1"]
    r = progix.request("GET", "/accounts/acc_2", headers=AUTH)
    assert r.status == 200 and r.json()["name"] == "Bolt"
    r = progix.request("GET", "/accounts/acc_9", headers=AUTH)
    assert r.status == 404 and "error" in r.json()


def test_admin_account_creation_delivers_signed_webhook(progix):
    rx, other = Receiver(), Receiver()
    dead = "http://127.0.0.1:%d/hook" % free_port()
    try:
        for url, events in ((rx.url, ["account.created"]), (other.url, ["account.deleted"]),
                            (dead, ["account.created"])):
            r = progix.request("POST", "/webhooks", {"url": url, "events": events}, AUTH)
            assert r.status == 201
        answer = progix.post("/_admin/accounts", {"accounts": [
            {"name": "Acme", "contact": "Ann", "email": "ann@acme.test"},
            {"name": "Bolt", "contact": "Bob", "email": "bob@bolt.test"}]})
        assert [a["id"] for a in answer["accounts"]] == ["acc_1", "acc_2"]
        d = answer["deliveries"]
        assert [x["url"] for x in d] == [rx.url, dead]
        assert d[0]["status"] == 200 and d[0]["error"] is None
        assert d[1]["status"] is None and d[1]["error"]

        assert other.received == []
        assert len(rx.received) == 1
        headers, raw = rx.received[0]
        assert headers["content-type"] == "application/json"
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-progix-signature"], expected)
        assert json.loads(raw) == {"event": "account.created",
                                   "accounts": [{"id": "acc_1"}, {"id": "acc_2"}]}

        # a wrong secret on request (to test rejection) signs differently
        progix.post("/_admin/accounts", {"accounts": [{"name": "X"}], "secret": "bad"})
        headers, raw = rx.received[1]
        assert headers["x-progix-signature"] != \
            "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        # deliver: false sends nothing
        progix.post("/_admin/accounts", {"accounts": [{"name": "Y"}], "deliver": False})
        assert len(rx.received) == 2
    finally:
        rx.close()
        other.close()


def test_request_log(progix):
    progix.request("POST", "/webhooks?x=1", {"url": "http://h/a"},
                   dict(AUTH, **{"X-Custom": "v"}))
    progix.request("GET", "/webhooks", headers={})
    progix.get("/_admin/webhooks")  # admin requests are not logged
    log = progix.get("/_admin/requests")["requests"]
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == \
        [("POST", "/webhooks", "x=1", 201), ("GET", "/webhooks", "", 401)]
    assert log[0]["headers"]["authorization"] == "Bearer " + KEY
    assert log[0]["headers"]["x-custom"] == "v"
    assert json.loads(log[0]["body"]) == {"url": "http://h/a"}
    progix.post("/_admin/reset")
    assert progix.get("/_admin/requests") == {"requests": []}


def test_failure_injection_with_retry_after(progix):
    progix.post("/_admin/fail", {"method": "GET", "path": "/webhooks", "status": 503,
                                 "count": 2, "retry_after": "1"})
    assert progix.request("POST", "/webhooks", {"url": "http://h/a"}, AUTH).status == 201
    for _ in range(2):
        r = progix.request("GET", "/webhooks", headers=AUTH)
        assert r.status == 503
        assert r.headers["retry-after"] == "1"
        assert "error" in r.json()
    r = progix.request("GET", "/webhooks", headers=AUTH)
    assert r.status == 200 and "retry-after" not in r.headers
    log = progix.get("/_admin/requests")["requests"]
    assert [e["status"] for e in log] == [201, 503, 503, 200]

    progix.post("/_admin/fail", {"path": "/accounts", "status": 429, "count": -1,
                                 "body": {"error": "slow down"}})
    for _ in range(3):
        r = progix.request("GET", "/accounts", headers=AUTH)
        assert r.status == 429 and r.json() == {"error": "slow down"}
    progix.post("/_admin/reset")
    assert progix.request("GET", "/accounts", headers=AUTH).status == 200


def test_delay_injection(progix):
    progix.post("/_admin/fail", {"path": "/webhooks", "delay": 0.3})
    t = time.monotonic()
    assert progix.request("GET", "/webhooks", headers=AUTH).status == 200
    assert time.monotonic() - t >= 0.3


# -- slack ----------------------------------------------------------------------

def test_slack_bad_token(slack):
    for headers in ({}, {"Authorization": "Bearer nope"}):
        r = slack.request("POST", "/api/chat.postMessage",
                          {"channel": "#general", "text": "hi"}, headers)
        assert r.status == 200
        assert r.json() == {"ok": False, "error": "invalid_auth"}
    assert slack.get("/_admin/messages") == {"messages": []}


def test_slack_argument_errors(slack):
    def post(args):
        r = slack.request("POST", "/api/chat.postMessage", args, SLACK_AUTH)
        assert r.status == 200
        return r.json()

    assert post({"channel": "#random", "text": "hi"}) == \
        {"ok": False, "error": "channel_not_found"}
    assert post({"text": "hi"}) == {"ok": False, "error": "channel_not_found"}
    assert post({"channel": "#general"}) == {"ok": False, "error": "no_text"}
    r = slack.request("POST", "/api/chat.postMessage", b"{bad",
                      dict(SLACK_AUTH, **{"Content-Type": "application/json"}))
    assert r.json() == {"ok": False, "error": "invalid_json"}
    r = slack.request("POST", "/api/nope", {}, SLACK_AUTH)
    assert r.status == 404 and r.json()["ok"] is False
    assert slack.get("/_admin/messages") == {"messages": []}


def test_slack_messages_recorded(slack):
    r = slack.request("POST", "/api/chat.postMessage",
                      json.dumps({"channel": "#newaccount", "text": "New: Acme"}),
                      dict(SLACK_AUTH, **{"Content-Type": "application/json; charset=utf-8"}))
    first = r.json()
    assert first["ok"] is True and first["channel"] == "#newaccount"
    assert first["message"]["text"] == "New: Acme"
    form = urllib.parse.urlencode({"channel": "general", "text": "New: Bolt & Co"})
    r = slack.request("POST", "/api/chat.postMessage", form, dict(
        SLACK_AUTH, **{"Content-Type": "application/x-www-form-urlencoded"}))
    second = r.json()
    assert second["ok"] is True and second["channel"] == "#general"
    assert second["ts"] != first["ts"]
    assert slack.get("/_admin/messages") == {"messages": [
        {"channel": "#newaccount", "text": "New: Acme", "ts": first["ts"]},
        {"channel": "#general", "text": "New: Bolt & Co", "ts": second["ts"]}]}
    log = slack.get("/_admin/requests")["requests"]
    assert [e["path"] for e in log] == ["/api/chat.postMessage"] * 2
    assert log[0]["headers"]["content-type"] == "application/json; charset=utf-8"


def test_slack_failure_injection(slack):
    slack.post("/_admin/fail", {"method": "POST", "path": "/api/chat.postMessage",
                                "status": 429, "count": 1, "retry_after": 2})
    args = {"channel": "#general", "text": "hi"}
    r = slack.request("POST", "/api/chat.postMessage", args, SLACK_AUTH)
    assert r.status == 429 and r.headers["retry-after"] == "2"
    assert r.json() == {"ok": False, "error": "ratelimited"}
    r = slack.request("POST", "/api/chat.postMessage", args, SLACK_AUTH)
    assert r.status == 200 and r.json()["ok"] is True
    assert len(slack.get("/_admin/messages")["messages"]) == 1
    assert len(slack.get("/_admin/requests")["requests"]) == 2


# -- HubSpot ----------------------------------------------------------------

HS_ID, HS_SECRET = "hs-client", "hs-" + "client-secret"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def hubspot():
    s = harness.start("hubspot", "--client-id", HS_ID, "--client-secret",
                      HS_SECRET, "--page-size", "2")
    yield s
    assert s.stop() == 0


def hs_authorize(hs, verifier=None, state="st-1"):
    """The code HubSpot's authorize redirect carries (not followed)."""
    q = {"client_id": HS_ID, "redirect_uri": "http://127.0.0.1:9/oauth/callback",
         "scope": "crm.objects.contacts.read", "state": state}
    if verifier:
        digest = hashlib.sha256(verifier.encode()).digest()
        q["code_challenge"] = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        q["code_challenge_method"] = "S256"
    conn = http.client.HTTPConnection("127.0.0.1", hs.port, timeout=10)
    conn.request("GET", "/oauth/authorize?" + urllib.parse.urlencode(q))
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 302
    loc = urllib.parse.urlsplit(r.getheader("Location"))
    assert loc.path == "/oauth/callback"
    back = urllib.parse.parse_qs(loc.query)
    assert back["state"] == [state]
    return back["code"][0]


def hs_token(hs, **form):
    return hs.request("POST", "/oauth/v1/token",
                      urllib.parse.urlencode(form), FORM)


def test_hubspot_code_flow_with_pkce_and_rotation(hubspot):
    code = hs_authorize(hubspot, verifier="v" * 43)
    base = {"client_id": HS_ID, "client_secret": HS_SECRET,
            "redirect_uri": "http://127.0.0.1:9/oauth/callback"}
    bad = hs_token(hubspot, grant_type="authorization_code", code=code,
                   code_verifier="w" * 43, **base)
    assert bad.status == 400 and bad.json()["error"] == "invalid_grant"
    code = hs_authorize(hubspot, verifier="v" * 43)
    r = hs_token(hubspot, grant_type="authorization_code", code=code,
                 code_verifier="v" * 43, **base)
    assert r.status == 200, r
    tok = r.json()
    assert tok["token_type"] == "bearer" and tok["expires_in"] == 1800
    again = hs_token(hubspot, grant_type="authorization_code", code=code,
                     code_verifier="v" * 43, **base)
    assert again.json()["status"] == "BAD_AUTH_CODE"  # codes are single-use

    r = hs_token(hubspot, grant_type="refresh_token", client_id=HS_ID,
                 client_secret=HS_SECRET, refresh_token=tok["refresh_token"])
    assert r.status == 200 and r.json()["refresh_token"] != tok["refresh_token"]
    old = hs_token(hubspot, grant_type="refresh_token", client_id=HS_ID,
                   client_secret=HS_SECRET, refresh_token=tok["refresh_token"])
    assert old.status == 400
    assert old.json()["status"] == "BAD_REFRESH_TOKEN"
    assert old.json()["error"] == "invalid_grant"
    wrong = hs_token(hubspot, grant_type="refresh_token", client_id=HS_ID,
                     client_secret="nope", refresh_token="x")
    assert wrong.json()["error"] == "invalid_client"
    assert hubspot.get("/_admin/tokens")["grants"] == \
        {"authorization_code": 1, "refresh_token": 1}


def test_hubspot_contacts_paging_and_errors(hubspot):
    code = hs_authorize(hubspot)
    tok = hs_token(hubspot, grant_type="authorization_code", code=code,
                   client_id=HS_ID, client_secret=HS_SECRET,
                   redirect_uri="http://127.0.0.1:9/oauth/callback").json()
    auth = {"Authorization": "Bearer " + tok["access_token"]}
    assert hubspot.request("GET", "/crm/v3/objects/contacts").status == 401
    for i in range(5):
        r = hubspot.request("POST", "/crm/v3/objects/contacts",
                            {"properties": {"email": "p%d@x.test" % i}}, auth)
        assert r.status == 201 and r.json()["id"] == str(i + 1)
    dup = hubspot.request("POST", "/crm/v3/objects/contacts",
                          {"properties": {"email": "p0@x.test"}}, auth)
    assert dup.status == 409 and dup.json()["category"] == "CONFLICT"
    seen, after = [], None
    while True:
        path = "/crm/v3/objects/contacts?limit=100"
        if after:
            path += "&after=" + after
        r = hubspot.request("GET", path, headers=auth)
        assert r.status == 200 and "x-hubspot-ratelimit-remaining" in r.headers
        seen += [c["properties"]["email"] for c in r.json()["results"]]
        after = r.json().get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == ["p%d@x.test" % i for i in range(5)]
    assert hubspot.request("GET", "/crm/v3/objects/contacts/99",
                           headers=auth).json()["category"] == "OBJECT_NOT_FOUND"
    hubspot.post("/_admin/expire")
    r = hubspot.request("GET", "/crm/v3/objects/contacts", headers=auth)
    assert r.status == 401 and r.json()["category"] == "EXPIRED_AUTHENTICATION"


# -- Stripe -----------------------------------------------------------------

ST_KEY = "sk_test_" + "standin0key0for0tests"
ST_AUTH = {"Authorization": "Bearer " + ST_KEY}
ST_FORM = dict(ST_AUTH, **FORM)


@pytest.fixture(scope="module")
def stripe_server():
    s = harness.start("stripe", "--api-key", ST_KEY)
    yield s
    assert s.stop() == 0


@pytest.fixture
def stripe(stripe_server):
    stripe_server.post("/_admin/reset")
    return stripe_server


def st_post(st, path, pairs, key=None):
    headers = dict(ST_FORM)
    if key is not None:
        headers["Idempotency-Key"] = key
    return st.request("POST", path, urllib.parse.urlencode(pairs), headers)


def test_stripe_auth_bearer_or_basic(stripe):
    r = stripe.request("GET", "/v1/customers")
    assert r.status == 401
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in r.json()["error"]["message"]
    wrong = "sk_test_" + "wrong0key0of0the0same0size"
    r = stripe.request("GET", "/v1/customers",
                       headers={"Authorization": "Bearer " + wrong})
    assert r.status == 401
    message = r.json()["error"]["message"]
    assert message.startswith("Invalid API Key provided: sk_test_*")
    assert message.endswith(wrong[-4:]) and wrong not in message
    basic = base64.b64encode((ST_KEY + ":").encode()).decode()
    for headers in (ST_AUTH, {"Authorization": "Basic " + basic}):
        r = stripe.request("GET", "/v1/customers", headers=headers)
        assert r.status == 200 and r.headers["request-id"].startswith("req_")
        assert r.json() == {"object": "list", "data": [], "has_more": False,
                            "url": "/v1/customers"}


def test_stripe_form_brackets_and_unknown_parameters(stripe):
    r = st_post(stripe, "/v1/customers", [
        ("email", "ann@acme.test"), ("name", "Ann Lee"),
        ("metadata[plan]", "pro"), ("metadata[account]", "acc_1"),
        ("preferred_locales[0]", "en"), ("preferred_locales[1]", "fr")])
    assert r.status == 200, r
    c = r.json()
    assert c["id"].startswith("cus_") and c["object"] == "customer"
    assert c["email"] == "ann@acme.test" and c["name"] == "Ann Lee"
    assert c["metadata"] == {"plan": "pro", "account": "acc_1"}
    assert c["preferred_locales"] == ["en", "fr"] and c["livemode"] is False
    r = st_post(stripe, "/v1/customers", [("emial", "x@y.test")])
    assert r.status == 400
    assert r.json()["error"]["code"] == "parameter_unknown"
    assert r.json()["error"]["param"] == "emial"
    r = st_post(stripe, "/v1/customers", [("preferred_locales[1]", "en")])
    assert r.status == 400 and r.json()["error"]["param"] == "preferred_locales"
    r = stripe.request("POST", "/v1/customers", '{"email": "j@son.test"}',
                       dict(ST_AUTH, **{"Content-Type": "application/json"}))
    assert r.status == 400
    assert len(stripe.get("/_admin/customers")["customers"]) == 1


def test_stripe_lists_follow_starting_after(stripe):
    stripe.post("/_admin/customers", {"customers": [
        {"email": "c%02d@t.test" % i} for i in range(25)]})
    seen, after, pages = [], None, 0
    while True:
        q = "?limit=10" + ("&starting_after=" + after if after else "")
        r = stripe.request("GET", "/v1/customers" + q, headers=ST_AUTH)
        assert r.status == 200, r
        page = r.json()
        pages += 1
        seen += [c["email"] for c in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert pages == 3
    assert seen == ["c%02d@t.test" % i for i in reversed(range(25))]  # newest first
    r = stripe.request("GET", "/v1/customers?email=c07%40t.test", headers=ST_AUTH)
    assert [c["email"] for c in r.json()["data"]] == ["c07@t.test"]
    for q, param in (("limit=0", "limit"), ("limit=101", "limit"),
                     ("starting_after=cus_none", "starting_after")):
        r = stripe.request("GET", "/v1/customers?" + q, headers=ST_AUTH)
        assert r.status == 400 and r.json()["error"]["param"] == param, (q, r)
    r = stripe.request("GET", "/v1/customers/cus_none", headers=ST_AUTH)
    assert r.status == 404
    assert r.json()["error"] == {
        "type": "invalid_request_error", "message": "No such customer: 'cus_none'",
        "code": "resource_missing", "param": "id",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing"}
    r = stripe.request("GET", "/v1/nothing", headers=ST_AUTH)
    assert r.status == 404 and "Unrecognized request URL" in r.json()["error"]["message"]


def test_stripe_idempotency_keys(stripe):
    pairs = [("email", "ann@acme.test"), ("metadata[n]", "1")]
    first = st_post(stripe, "/v1/customers", pairs, key="key-1")
    assert first.status == 200 and "idempotent-replayed" not in first.headers
    again = st_post(stripe, "/v1/customers", pairs, key="key-1")
    assert again.status == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = st_post(stripe, "/v1/customers", [("email", "bob@bolt.test")], key="key-1")
    assert other.status == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    elsewhere = st_post(stripe, "/v1/webhook_endpoints", [
        ("url", "https://h.test/x"), ("enabled_events[0]", "*")], key="key-1")
    assert elsewhere.status == 400
    assert elsewhere.json()["error"]["type"] == "idempotency_error"
    assert len(stripe.get("/_admin/customers")["customers"]) == 1
    # a validation failure is not saved: the key is still free
    assert st_post(stripe, "/v1/customers", [("bad", "1")], key="key-2").status == 400
    assert st_post(stripe, "/v1/customers", pairs, key="key-2").status == 200
    assert st_post(stripe, "/v1/customers", pairs,
                   key="k" * 256).json()["error"]["type"] == "idempotency_error"


def test_stripe_lost_answer_is_replayed(stripe):
    stripe.post("/_admin/lose", {"status": 500, "count": 1, "path": "/v1/customers"})
    pairs = [("email", "ann@acme.test")]
    lost = st_post(stripe, "/v1/customers", pairs, key="key-lost")
    assert lost.status == 500 and lost.json()["error"]["type"] == "api_error"
    made = stripe.get("/_admin/customers")["customers"]
    assert len(made) == 1  # it ran
    again = st_post(stripe, "/v1/customers", pairs, key="key-lost")
    assert again.status == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == made[0]["id"]
    assert len(stripe.get("/_admin/customers")["customers"]) == 1


def test_stripe_webhook_endpoints_and_signed_events(stripe):
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.headers["Stripe-Signature"], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/hook" % server.server_address[1]
        r = st_post(stripe, "/v1/webhook_endpoints", [
            ("url", url), ("enabled_events[0]", "customer.created"),
            ("metadata[by]", "test")])
        assert r.status == 200, r
        we = r.json()
        assert we["id"].startswith("we_") and we["secret"].startswith("whsec_")
        assert we["enabled_events"] == ["customer.created"] and we["status"] == "enabled"
        listed = stripe.request("GET", "/v1/webhook_endpoints", headers=ST_AUTH).json()
        assert [e["id"] for e in listed["data"]] == [we["id"]]
        assert "secret" not in listed["data"][0]
        r = st_post(stripe, "/v1/webhook_endpoints", [("url", url)])
        assert r.status == 400 and r.json()["error"]["code"] == "parameter_missing"
        out = stripe.post("/_admin/events", {"type": "customer.created",
                                             "object": {"id": "cus_1"}})
        assert [d["status"] for d in out["deliveries"]] == [200]
        assert stripe.post("/_admin/events", {"type": "invoice.paid"})["deliveries"] == []
        (sig, body), = got
        fields = dict(p.split("=", 1) for p in sig.split(","))
        mac = hmac.new(we["secret"].encode(), fields["t"].encode() + b"." + body,
                       hashlib.sha256).hexdigest()
        assert hmac.compare_digest(mac, fields["v1"])
        assert json.loads(body)["type"] == "customer.created"
        r = stripe.request("DELETE", "/v1/webhook_endpoints/" + we["id"], headers=ST_AUTH)
        assert r.json() == {"id": we["id"], "object": "webhook_endpoint", "deleted": True}
        r = stripe.request("DELETE", "/v1/webhook_endpoints/" + we["id"], headers=ST_AUTH)
        assert r.status == 404 and r.json()["error"]["code"] == "resource_missing"
    finally:
        server.shutdown()
        server.server_close()


def test_stripe_injected_failures_look_like_stripe(stripe):
    stripe.post("/_admin/fail", {"status": 429, "count": 1, "retry_after": 1})
    r = stripe.request("GET", "/v1/customers", headers=ST_AUTH)
    assert r.status == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "rate_limit"
    assert r.headers["stripe-should-retry"] == "true"
    assert stripe.request("GET", "/v1/customers", headers=ST_AUTH).status == 200


# -- oauth.py: RFC 6749 shapes ----------------------------------------------

OAUTH_ID, OAUTH_SECRET = "client-1", "oauth-secret-for-tests"


@pytest.fixture(scope="module")
def oauth_server():
    s = harness.start("oauth", "--client-id", OAUTH_ID,
                      "--client-secret", OAUTH_SECRET)
    yield s
    assert s.stop() == 0


@pytest.fixture
def oauth(oauth_server):
    oauth_server.post("/_admin/reset")
    return oauth_server


def token_post(oauth, basic=False, **form):
    headers = dict(FORM)
    if basic:
        import base64
        pair = "%s:%s" % (urllib.parse.quote_plus(OAUTH_ID),
                          urllib.parse.quote_plus(OAUTH_SECRET))
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form.update(client_id=OAUTH_ID, client_secret=OAUTH_SECRET)
    return oauth.request("POST", "/token", urllib.parse.urlencode(form),
                         headers=headers)


def authorize(oauth, **params):
    q = dict(response_type="code", client_id=OAUTH_ID,
             redirect_uri="http://127.0.0.1:9/cb", state="st-1")
    q.update(params)
    conn = http.client.HTTPConnection("127.0.0.1", oauth.port, timeout=10)
    conn.request("GET", "/authorize?" + urllib.parse.urlencode(q))
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, r.getheader("Location")


def test_oauth_client_credentials_body_and_basic(oauth):
    r = token_post(oauth, grant_type="client_credentials", scope="a b")
    assert r.status == 200 and r.headers["cache-control"] == "no-store"
    t = r.json()
    assert t["token_type"] == "Bearer" and t["scope"] == "a b"
    assert "refresh_token" not in t  # section 4.4.3
    r = token_post(oauth, basic=True, grant_type="client_credentials")
    assert r.status == 200
    assert oauth.get("/_admin/counters")["client_auth"] == {"basic": 1, "body": 1}
    me = oauth.request("GET", "/api/me",
                       headers={"Authorization": "Bearer " + t["access_token"]})
    assert me.status == 200 and me.json()["scope"] == "a b"


def test_oauth_bad_client_and_grant(oauth):
    r = oauth.request("POST", "/token", urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": OAUTH_ID,
         "client_secret": "wrong"}), headers=FORM)
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    r = token_post(oauth, grant_type="password")
    assert r.status == 400 and r.json()["error"] == "unsupported_grant_type"
    r = oauth.request("POST", "/token", "{}", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json()["error"] == "invalid_request"


def test_oauth_authorization_code_with_pkce(oauth):
    import base64
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    status, loc = authorize(oauth, code_challenge=challenge,
                            code_challenge_method="S256", scope="crm")
    assert status == 302
    back = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    assert back["state"] == ["st-1"]
    code = back["code"][0]
    # a wrong verifier is invalid_grant, and spends the code
    r = token_post(oauth, grant_type="authorization_code", code=code,
                   redirect_uri="http://127.0.0.1:9/cb", code_verifier="w" * 50)
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    status, loc = authorize(oauth, code_challenge=challenge,
                            code_challenge_method="S256")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["code"][0]
    r = token_post(oauth, grant_type="authorization_code", code=code,
                   redirect_uri="http://127.0.0.1:9/other", code_verifier=verifier)
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    status, loc = authorize(oauth, code_challenge=challenge,
                            code_challenge_method="S256")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["code"][0]
    r = token_post(oauth, grant_type="authorization_code", code=code,
                   redirect_uri="http://127.0.0.1:9/cb", code_verifier=verifier)
    assert r.status == 200 and r.json()["refresh_token"]
    r2 = token_post(oauth, grant_type="authorization_code", code=code,
                    redirect_uri="http://127.0.0.1:9/cb", code_verifier=verifier)
    assert r2.status == 400 and r2.json()["error"] == "invalid_grant"
    # plain challenges are not taken
    status, loc = authorize(oauth, code_challenge="x" * 43)
    assert "error=invalid_request" in loc and "state=st-1" in loc


def test_oauth_refresh_tokens_rotate(oauth):
    rt = oauth.post("/_admin/refresh_token")["refresh_token"]
    r = token_post(oauth, grant_type="refresh_token", refresh_token=rt)
    assert r.status == 200
    new = r.json()["refresh_token"]
    assert new != rt
    again = token_post(oauth, grant_type="refresh_token", refresh_token=rt)
    assert again.status == 400 and again.json()["error"] == "invalid_grant"
    assert token_post(oauth, grant_type="refresh_token",
                      refresh_token=new).status == 200


def test_oauth_expired_and_unknown_tokens_are_401(oauth):
    t = token_post(oauth, grant_type="client_credentials").json()["access_token"]
    assert oauth.request("GET", "/api/me?access_token=" + t).status == 200
    oauth.post("/_admin/expire")
    r = oauth.request("GET", "/api/me", headers={"Authorization": "Bearer " + t})
    assert r.status == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert oauth.request("GET", "/api/me").status == 401
    c = oauth.get("/_admin/counters")
    assert c["api_requests"] == 3 and c["api_unauthorized"] == 2
    assert t in oauth.get("/_admin/issued")["access_tokens"]
