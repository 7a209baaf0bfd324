"""End-to-end tests of connectors with auth: oauth2 (flowrun-connector(5),
AUTHENTICATION) against the stand-in OAuth 2.0 server (tests/standins/
oauth.py): client credentials got once and reused across runs, refresh
before expiry and on a 401, one token request for 16 concurrent executions
in one serve, token endpoint errors and invalid_grant, and no token or
client secret in any output, log or, as plain text, in the store.

The client secret and every token are made at run time.
"""

import json
import os
import re
import secrets
import textwrap
import threading
import time

import pytest

import harness
import serving

CLIENT_ID = "flowrun-e2e-client"
CLIENT_SECRET = "cs-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def oauth_server():
    s = harness.start("oauth", "--client-id", CLIENT_ID,
                      "--client-secret", CLIENT_SECRET)
    yield s
    s.stop()


@pytest.fixture
def provider(oauth_server):
    assert oauth_server.running(), oauth_server.log
    oauth_server.post("/_admin/reset")
    return oauth_server


def counters(provider):
    return provider.get("/_admin/counters")


# -- the project --------------------------------------------------------------

INPUTS = {
    "client_credentials": "",
    "refresh_token": "  refresh_token: { required: true, secret: true }\n",
    "authorization_code": "",
}


def connector(grant, client_auth="body", apply=None):
    extra = {
        "client_credentials": "    scopes: [me.read]\n",
        "refresh_token": '    refresh_token: "${{ .connection.refresh_token }}"\n',
        "authorization_code": '    authorize_url: "${{ .connection.base_url }}'
                              '/authorize"\n    pkce: true\n',
    }[grant]
    inputs = INPUTS["refresh_token"] if grant != "client_credentials" else ""
    text = textwrap.dedent("""\
        connector: api
        inputs:
          base_url: { required: true }
          client_id: { required: true }
          client_secret: { required: true, secret: true }
        %shttp:
          base_url: "${{ .connection.base_url }}"
          retry: { attempts: 1 }
        auth:
          oauth2:
            grant: %s
            token_url: "${{ .connection.base_url }}/token"
            client_id: "${{ .connection.client_id }}"
            client_secret: "${{ .connection.client_secret }}"
            client_auth: %s
        %s%sactions:
          me:
            effect: read
            method: GET
            path: /api/me
        """) % (inputs, grant, client_auth, extra,
                "    apply: %s\n" % apply if apply else "")
    return text


FLOW = textwrap.dedent("""\
    integration: oa
    config:
      base_url: { required: true }
      client_secret: { secret: true, env: OA_CLIENT_SECRET }
      refresh_token: { secret: true, env: OA_REFRESH_TOKEN, default: none }
    connections:
      api:
        connector: api
        with:
          base_url: "${{ .config.base_url }}"
          client_id: %s
          client_secret: "${{ .config.client_secret }}"
    %s
    flows:
      main:
        steps:
          - id: me
            action: api.me
      hook:
        trigger: { webhook: {} }
        steps:
          - id: me
            action: api.me
      many:
        steps:
          - loop: { over: '[range(8)]', as: i, concurrency: 8 }
            steps:
              - action: api.me
    """)


def write_project(tmp_path, grant, **kw):
    root = tmp_path / "proj"
    (root / "flows").mkdir(parents=True, exist_ok=True)
    (root / "connectors").mkdir(exist_ok=True)
    (root / "connectors" / "api.yaml").write_text(connector(grant, **kw))
    rt = ('      refresh_token: "${{ .config.refresh_token }}"'
          if grant != "client_credentials" else "")
    (root / "flows" / "oa.yaml").write_text(FLOW % (CLIENT_ID, rt))
    return str(root / "flows")


class Outputs:
    """Everything flowrun printed in a test, to look for leaks at its end."""

    def __init__(self):
        self.texts = []

    def add(self, *texts):
        self.texts.extend(t for t in texts if t)
        return texts


@pytest.fixture
def oa(run, provider, tmp_path, base_env):
    """oa(grant) writes the project; oa.run(...) runs its flow `main` with
    the stand-in's URL and the secrets in the environment; at the end of
    the test, no token or client secret is in anything flowrun printed,
    in runs --json and show --json, or as plain text in the store."""
    seen = Outputs()
    state = {"env": {"OA_CLIENT_SECRET": CLIENT_SECRET}}

    class OA:
        outputs = seen
        env = state["env"]

        def __call__(self, grant, **kw):
            self.flows = write_project(tmp_path, grant, **kw)
            return self

        def run(self, *args, flow="main"):
            r = run("run", self.flows, "--flow", flow, "--set",
                    "base_url=" + provider.url, *args, env=state["env"])
            seen.add(r.stdout, r.stderr)
            return r

    yield OA()
    # the leak check: printed, listed, shown, stored
    r = run("runs", "--json", "--limit", "1000", env=state["env"])
    seen.add(r.stdout, r.stderr)
    for ex in json.loads(r.stdout or "[]"):
        s = run("show", "--json", ex["id"], env=state["env"])
        seen.add(s.stdout, s.stderr)
    issued = provider.get("/_admin/issued")
    values = [CLIENT_SECRET] + issued["access_tokens"] + issued["refresh_tokens"]
    for text in seen.texts:
        for v in values:
            assert v not in text, "a secret (%s...) in output:\n%s" % (v[:6], text)
    store = serving.store_path(base_env)
    for suffix in ("", "-wal", "-shm"):
        try:
            with open(store + suffix, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        for v in values:
            assert v.encode() not in data, "a secret (%s...) in %s%s" % (
                v[:6], store, suffix)


def ok_output(r):
    assert r.rc == 0, r
    return r


def step_http(r):
    trace = json.loads(r.stdout)
    return [a.get("status") for a in trace["steps"][0]["http"]]


def wait_until(t, what):
    serving.wait_for(lambda: time.time() > t, 30, what)


# -- client credentials -------------------------------------------------------

def test_client_credentials_fetched_once_and_reused_across_runs(oa, provider,
                                                                 base_env):
    oa("client_credentials")
    first = ok_output(oa.run("--json"))
    assert json.loads(first.stdout)["output"] == {
        "ok": True, "client": CLIENT_ID, "scope": "me.read"}
    ok_output(oa.run())
    c = counters(provider)
    assert c["token_requests"] == 1, c
    assert c["by_grant"] == {"client_credentials": 1}, c
    assert c["client_auth"] == {"basic": 0, "body": 1}, c
    assert c["api_requests"] == 2 and c["api_unauthorized"] == 0, c
    # the token request was a form with the client in the body
    token = [q for q in provider.get("/_admin/requests")["requests"]
             if q["path"] == "/token"]
    assert len(token) == 1
    assert token[0]["headers"]["content-type"] == \
        "application/x-www-form-urlencoded"
    assert "grant_type=client_credentials" in token[0]["body"]
    assert "scope=me.read" in token[0]["body"]
    # the key file beside the store, made on first use
    key = serving.store_path(base_env) + ".key"
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"


def test_client_auth_basic(oa, provider):
    oa("client_credentials", client_auth="basic")
    ok_output(oa.run())
    c = counters(provider)
    assert c["client_auth"] == {"basic": 1, "body": 0}, c
    token = [q for q in provider.get("/_admin/requests")["requests"]
             if q["path"] == "/token"][0]
    assert token["headers"]["authorization"].startswith("Basic ")
    assert "client_secret" not in token["body"]


def test_token_in_the_query_string(oa, provider):
    oa("client_credentials", apply="{ query: access_token }")
    r = ok_output(oa.run("--json"))
    api = [q for q in provider.get("/_admin/requests")["requests"]
           if q["path"] == "/api/me"]
    assert api[0]["query"].startswith("access_token=")
    assert "authorization" not in api[0]["headers"]
    # the URL in the trace shows *** where the token was
    url = json.loads(r.stdout)["steps"][0]["http"][0]["url"]
    assert url.endswith("/api/me?access_token=***"), url


def test_token_endpoint_error_names_the_connection(oa, provider):
    oa("client_credentials")
    wrong = "cs-" + secrets.token_hex(16)
    oa.env["OA_CLIENT_SECRET"] = wrong
    r = oa.run()
    oa.env["OA_CLIENT_SECRET"] = CLIENT_SECRET
    assert r.rc == 1, r
    assert ("connection 'api': the token endpoint refused the "
            "client_credentials grant: invalid_client (client authentication "
            "failed)") in r.stderr, r
    assert wrong not in r.stdout + r.stderr
    assert counters(provider)["api_requests"] == 0


# -- refresh ------------------------------------------------------------------

def test_refresh_after_expiry(oa, provider):
    oa("refresh_token")
    provider.post("/_admin/config", {"expires_in": 1})
    oa.env["OA_REFRESH_TOKEN"] = provider.post("/_admin/refresh_token",
                                               {})["refresh_token"]
    ok_output(oa.run())
    got_at = time.time()
    assert counters(provider)["token_requests"] == 1
    # the token expires a second after it was issued: by then it is
    # refreshed before it is sent, with the rotated refresh token
    wait_until(got_at + 1.2, "the access token to expire")
    ok_output(oa.run())
    c = counters(provider)
    assert c["token_requests"] == 2, c
    assert c["by_grant"] == {"refresh_token": 2}, c
    assert c["token_errors"] == {}, c
    assert c["api_unauthorized"] == 0, c


def test_refresh_on_401_then_the_request_is_sent_again(oa, provider):
    oa("client_credentials")
    ok_output(oa.run())
    provider.post("/_admin/expire")
    r = ok_output(oa.run("--json"))
    assert step_http(r) == [401, 200]
    c = counters(provider)
    assert c["token_requests"] == 2 and c["api_unauthorized"] == 1, c
    # a third run uses the new token as it is
    ok_output(oa.run())
    assert counters(provider)["token_requests"] == 2


def test_a_second_401_is_the_step_error(oa, provider):
    oa("client_credentials")
    provider.post("/_admin/fail", {"path": "/api/me", "status": 401,
                                   "count": 2})
    r = oa.run()
    assert r.rc == 1, r
    assert re.search(r"GET http://127\.0\.0\.1:\d+/api/me answered 401",
                     r.stderr), r
    assert counters(provider)["token_requests"] == 2


# -- invalid_grant --------------------------------------------------------------

def test_invalid_grant_says_run_flowrun_connect(oa, provider):
    # tokens stored by a refresh_token connection, then the connector is
    # one of authorization_code whose refresh token the server revoked
    oa("refresh_token")
    oa.env["OA_REFRESH_TOKEN"] = provider.post("/_admin/refresh_token",
                                               {})["refresh_token"]
    ok_output(oa.run())
    oa("authorization_code")
    provider.post("/_admin/expire")
    provider.post("/_admin/revoke")
    r = oa.run()
    assert r.rc == 1, r
    assert "invalid_grant" in r.stderr, r
    assert "run 'flowrun connect api' to authorize it again" in r.stderr, r
    before = counters(provider)["token_requests"]
    # marked: the next run says so without asking the server
    r = oa.run()
    assert r.rc == 1, r
    assert ("connection 'api' needs authorization; run 'flowrun connect api' "
            "to authorize it again") in r.stderr, r
    assert counters(provider)["token_requests"] == before


def test_invalid_grant_of_a_given_refresh_token(oa, provider):
    oa("refresh_token")
    oa.env["OA_REFRESH_TOKEN"] = provider.post("/_admin/refresh_token",
                                               {})["refresh_token"]
    provider.post("/_admin/revoke")
    r = oa.run()
    assert r.rc == 1, r
    assert ("connection 'api': the token endpoint refused the refresh_token "
            "grant: invalid_grant") in r.stderr, r
    assert "give connection 'api' a new refresh token" in r.stderr, r
    # a new one given: it works again
    oa.env["OA_REFRESH_TOKEN"] = provider.post("/_admin/refresh_token",
                                               {})["refresh_token"]
    ok_output(oa.run())


def test_authorization_code_never_authorized(oa, provider):
    oa("authorization_code")
    r = oa.run()
    assert r.rc == 1, r
    assert "connection 'api' needs authorization; run 'flowrun connect api'" \
        in r.stderr, r
    assert counters(provider)["token_requests"] == 0


# -- one refresh for many ------------------------------------------------------

def test_threads_of_one_run_share_one_token_request(oa, provider):
    oa("refresh_token")
    oa.env["OA_REFRESH_TOKEN"] = provider.post("/_admin/refresh_token",
                                               {})["refresh_token"]
    provider.post("/_admin/config", {"token_delay": 0.3})
    ok_output(oa.run(flow="many"))
    c = counters(provider)
    assert c["token_requests"] == 1 and c["api_requests"] == 8, c
    provider.post("/_admin/expire")
    ok_output(oa.run(flow="many"))
    c = counters(provider)
    assert c["token_requests"] == 2, c
    assert c["token_errors"] == {}, c
    assert c["api_requests"] == 16 + c["api_unauthorized"], c


def test_sixteen_concurrent_executions_one_token_request(oa, provider, serve,
                                                          run):
    # rotating refresh tokens: two refreshes at once would spend one twice
    oa("refresh_token")
    oa.env["OA_REFRESH_TOKEN"] = provider.post("/_admin/refresh_token",
                                               {})["refresh_token"]
    provider.post("/_admin/config", {"expires_in": 1})
    ok_output(oa.run())
    got_at = time.time()
    assert counters(provider)["token_requests"] == 1
    provider.post("/_admin/config", {"expires_in": 3600, "token_delay": 0.5})
    srv = serve(oa.flows, "--set", "base_url=" + provider.url,
                "--workers", "16", env=oa.env)
    wait_until(got_at + 1.2, "the access token to expire")
    answers = []

    def post():
        answers.append(srv.post("/hooks/oa/hook", {"n": 1}).status)

    threads = [threading.Thread(target=post) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [202] * 16, answers

    def done():
        r = run("runs", "--json", "--flow", "oa/hook", "--limit", "100",
                env=oa.env)
        rows = json.loads(r.stdout or "[]")
        return rows if len(rows) == 16 and all(
            x["status"] in ("ok", "failed") for x in rows) else None

    rows = serving.wait_for(done, 60, "16 executions to end")
    assert [x["status"] for x in rows] == ["ok"] * 16, rows
    c = counters(provider)
    assert c["token_requests"] == 2, c
    assert c["token_errors"] == {}, c
    srv.stop()
    oa.outputs.add(srv.log())


def test_two_serves_on_postgresql_one_token_request(oa, provider, serve, run,
                                                     pg_db):
    # a PostgreSQL store keeps tokens only under FLOWRUN_SECRET_KEY
    oa("refresh_token")
    oa.env["FLOWRUN_STORE"] = pg_db
    oa.env["OA_REFRESH_TOKEN"] = provider.post("/_admin/refresh_token",
                                               {})["refresh_token"]
    r = oa.run()
    assert r.rc == 1 and "FLOWRUN_SECRET_KEY, which is not set" in r.stderr, r
    # nothing was asked that could not be kept (the refresh token is whole)
    assert counters(provider)["token_requests"] == 0
    oa.env["FLOWRUN_SECRET_KEY"] = secrets.token_hex(32)
    provider.post("/_admin/config", {"expires_in": 1})
    ok_output(oa.run())
    got_at = time.time()
    provider.post("/_admin/config", {"expires_in": 3600, "token_delay": 0.5})
    servers = [serve(oa.flows, "--set", "base_url=" + provider.url,
                     "--workers", "8", env=oa.env) for _ in range(2)]
    wait_until(got_at + 1.2, "the access token to expire")
    answers = []

    def post(srv):
        answers.append(srv.post("/hooks/oa/hook", {"n": 1}).status)

    threads = [threading.Thread(target=post, args=(servers[i % 2],))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [202] * 16, answers

    def done():
        r = run("runs", "--json", "--flow", "oa/hook", "--limit", "100",
                env=oa.env)
        rows = json.loads(r.stdout or "[]")
        return rows if len(rows) == 16 and all(
            x["status"] in ("ok", "failed") for x in rows) else None

    rows = serving.wait_for(done, 60, "16 executions to end")
    assert [x["status"] for x in rows] == ["ok"] * 16, rows
    c = counters(provider)
    assert c["token_requests"] == 2, c
    assert c["token_errors"] == {}, c
    for srv in servers:
        srv.stop()
        oa.outputs.add(srv.log())
