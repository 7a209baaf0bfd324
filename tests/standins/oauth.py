#!/usr/bin/env python3
"""Stand-in for an OAuth 2.0 authorization server and the API it protects,
answering in the shapes of RFC 6749 (and RFC 7636 for PKCE, RFC 6750 for
bearer tokens).

    oauth.py --port 0 --client-id ID --client-secret SECRET
             [--expires-in S] [--client-auth any|body|basic] [--no-rotate]
             [--portfile FILE] [--verbose]

Authorization server:
    GET  /authorize?response_type=code&client_id=&redirect_uri=&state=
                   [&scope=][&code_challenge=&code_challenge_method=S256]
         the user says yes at once: 302 to redirect_uri?code=C&state=S
         (section 4.1.2); errors go back there as ?error=E&state=S
         (section 4.1.2.1), or are a 400 page without a usable redirect_uri.
    POST /token  application/x-www-form-urlencoded (section 3.2)
         grant_type=client_credentials [scope]             (section 4.4)
         grant_type=authorization_code code redirect_uri [code_verifier]
                                                           (section 4.1.3)
         grant_type=refresh_token refresh_token [scope]    (section 6)
         The client authenticates with HTTP Basic (client_id and secret
         form-encoded, then base64: section 2.3.1) or in the body, as
         --client-auth allows (any: both).  200 {access_token, token_type:
         "Bearer", expires_in, refresh_token?, scope} with Cache-Control:
         no-store (section 5.1); errors 400 (401 invalid_client)
         {error, error_description} (section 5.2).  Refresh tokens rotate:
         one used is spent, and using it again is invalid_grant (unless
         --no-rotate).  client_credentials issues no refresh token (4.4.3).
Protected resource:
    GET  /api/me   the token as "Authorization: Bearer T" or ?access_token=T
         (RFC 6750 sections 2.1, 2.3): 200 {ok, client, scope}; an unknown
         or expired token: 401 with WWW-Authenticate: Bearer
         error="invalid_token" (section 3.1).
Admin (no auth), besides those of standin.py:
    GET  /_admin/counters  {token_requests, by_grant: {GRANT: n},
                            client_auth: {basic: n, body: n},
                            token_errors: {ERROR: n}, api_requests,
                            api_unauthorized}
    POST /_admin/config    {expires_in: S, token_delay: S} (delay: each
                           token request waits that long before answering)
    POST /_admin/expire    every access token issued so far expires now
    POST /_admin/revoke    every refresh token is spent (invalid_grant)
    POST /_admin/refresh_token  {"scope"?} -> {"refresh_token"} issued to
                           the client, as if authorized elsewhere
    GET  /_admin/issued    {access_tokens: [...], refresh_tokens: [...]}
                           every token issued since the last reset (for
                           tests that look for them where they must not be)
"""

import base64
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin import App, Reply, error, main  # noqa: E402

CODE_LIFETIME = 600


def oauth_error(status, code, description, headers=None):
    """Section 5.2: {error, error_description}, no-store."""
    h = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    h.update(headers or {})
    return Reply(status, {"error": code, "error_description": description}, h)


def s256(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class OAuth(App):
    """Fake OAuth 2.0 authorization server with a protected API."""

    name = "oauth"
    routes = [
        ("GET", r"/authorize", "authorize"),
        ("POST", r"/token", "token"),
        ("GET", r"/api/me", "api_me"),
    ]
    admin_routes = [
        ("GET", r"/_admin/counters", "admin_counters"),
        ("POST", r"/_admin/config", "admin_config"),
        ("POST", r"/_admin/expire", "admin_expire"),
        ("POST", r"/_admin/revoke", "admin_revoke"),
        ("POST", r"/_admin/refresh_token", "admin_refresh_token"),
        ("GET", r"/_admin/issued", "admin_issued"),
    ]

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret", required=True)
        parser.add_argument("--expires-in", type=float, default=3600)
        parser.add_argument("--client-auth", choices=["any", "body", "basic"],
                            default="any")
        parser.add_argument("--no-rotate", action="store_true",
                            help="refresh tokens stay valid after use")

    def reset(self):
        with self.lock:
            super().reset()
            self.expires_in = self.args.expires_in
            self.token_delay = 0.0
            self.codes = {}  # code -> {redirect_uri, challenge, scope, expires}
            self.access = {}  # token -> {expires, scope}
            self.refresh = {}  # token -> {scope, spent}
            self.counters = {"token_requests": 0, "by_grant": {},
                             "client_auth": {"basic": 0, "body": 0},
                             "token_errors": {}, "api_requests": 0,
                             "api_unauthorized": 0}

    # -- authorization endpoint (section 4.1.1) ------------------------------

    def authorize(self, req):
        redirect = req.param("redirect_uri")
        state = req.param("state")
        if req.param("client_id") != self.args.client_id:
            return error(400, "unknown client_id: the user is not sent back")
        if not redirect or not redirect.startswith(("http://", "https://")):
            return error(400, "missing or invalid redirect_uri")

        def back(**params):
            if state is not None:
                params["state"] = state
            sep = "&" if "?" in redirect else "?"
            return Reply(302, None, {"Location": redirect + sep +
                                     urllib.parse.urlencode(params)})

        if req.param("response_type") != "code":
            return back(error="unsupported_response_type")
        challenge = req.param("code_challenge")
        method = req.param("code_challenge_method", "plain")
        if challenge is not None and method != "S256":
            return back(error="invalid_request",
                        error_description="only S256 code challenges")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"redirect_uri": redirect, "challenge": challenge,
                                "scope": req.param("scope"),
                                "expires": time.time() + CODE_LIFETIME}
        return back(code=code)

    # -- token endpoint (section 3.2) ----------------------------------------

    def client_of(self, req, form):
        """(client_id, how) of an authenticated client, or a Reply."""
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth[6:].strip(), validate=True).decode()
                cid, _, csecret = raw.partition(":")
                cid = urllib.parse.unquote_plus(cid)
                csecret = urllib.parse.unquote_plus(csecret)
            except (ValueError, UnicodeDecodeError):
                cid = csecret = None
            how = "basic"
            if "client_secret" in form:
                return oauth_error(400, "invalid_request",
                                   "more than one client authentication")
        else:
            cid, csecret, how = form.get("client_id"), form.get("client_secret"), "body"
        if self.args.client_auth not in ("any", how) or \
                cid != self.args.client_id or csecret != self.args.client_secret:
            challenge = {"WWW-Authenticate": 'Basic realm="oauth"'} \
                if how == "basic" else {}
            return oauth_error(401, "invalid_client",
                               "client authentication failed", challenge)
        return cid, how

    def issue(self, scope, with_refresh):
        now = time.time()
        token = {"access_token": secrets.token_urlsafe(24),
                 "token_type": "Bearer", "expires_in": self.expires_in}
        self.access[token["access_token"]] = {"expires": now + self.expires_in,
                                              "scope": scope}
        if with_refresh:
            token["refresh_token"] = secrets.token_urlsafe(32)
            self.refresh[token["refresh_token"]] = {"scope": scope, "spent": False}
        if scope:
            token["scope"] = scope
        return Reply(200, token, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def token(self, req):
        with self.lock:
            self.counters["token_requests"] += 1
            delay = self.token_delay
        if delay:
            time.sleep(delay)
        reply = self.token_answer(req)
        if reply.status != 200:
            with self.lock:
                code = reply.body.get("error", "?")
                errors = self.counters["token_errors"]
                errors[code] = errors.get(code, 0) + 1
        return reply

    def token_answer(self, req):
        if req.content_type() != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request",
                               "the body must be application/x-www-form-urlencoded")
        pairs = urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"),
                                       keep_blank_values=True)
        names = [k for k, _ in pairs]
        if len(names) != len(set(names)):
            return oauth_error(400, "invalid_request", "a parameter is repeated")
        form = dict(pairs)
        client = self.client_of(req, form)
        if isinstance(client, Reply):
            return client
        _, how = client
        grant = form.get("grant_type")
        with self.lock:
            self.counters["client_auth"][how] += 1
            by = self.counters["by_grant"]
            by[str(grant)] = by.get(str(grant), 0) + 1
            if grant == "client_credentials":
                return self.issue(form.get("scope"), False)
            if grant == "authorization_code":
                return self.code_grant(form)
            if grant == "refresh_token":
                return self.refresh_grant(form)
        if grant is None:
            return oauth_error(400, "invalid_request", "grant_type is missing")
        return oauth_error(400, "unsupported_grant_type", "unknown grant_type")

    def code_grant(self, form):
        code = self.codes.pop(form.get("code", ""), None)  # used once
        if code is None or code["expires"] < time.time():
            return oauth_error(400, "invalid_grant", "unknown, used or expired code")
        if code["redirect_uri"] != form.get("redirect_uri"):
            return oauth_error(400, "invalid_grant", "redirect_uri does not match")
        if code["challenge"] is not None:
            verifier = form.get("code_verifier")
            if verifier is None:
                return oauth_error(400, "invalid_request", "code_verifier is missing")
            if s256(verifier) != code["challenge"]:
                return oauth_error(400, "invalid_grant", "code_verifier does not match")
        return self.issue(code["scope"], True)

    def refresh_grant(self, form):
        rt = self.refresh.get(form.get("refresh_token", ""))
        if rt is None or rt["spent"]:
            return oauth_error(400, "invalid_grant",
                               "the refresh token is invalid or was used")
        if not self.args.no_rotate:
            rt["spent"] = True
        reply = self.issue(rt["scope"], not self.args.no_rotate)
        return reply

    # -- protected resource (RFC 6750) ---------------------------------------

    def api_me(self, req):
        auth = req.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") \
            else req.param("access_token")
        with self.lock:
            self.counters["api_requests"] += 1
            t = self.access.get(token or "")
            if t is None or t["expires"] <= time.time():
                self.counters["api_unauthorized"] += 1
                return Reply(401, {"error": "invalid_token"},
                             {"WWW-Authenticate":
                              'Bearer realm="api", error="invalid_token"'})
        return Reply(200, {"ok": True, "client": self.args.client_id,
                           "scope": t["scope"]})

    # -- admin ---------------------------------------------------------------

    def admin_counters(self, req):
        with self.lock:
            return Reply(200, json.loads(json.dumps(self.counters)))

    def admin_config(self, req):
        spec = req.json()
        with self.lock:
            if "expires_in" in spec:
                self.expires_in = float(spec["expires_in"])
            if "token_delay" in spec:
                self.token_delay = float(spec["token_delay"])
        return Reply(200, {"ok": True})

    def admin_expire(self, req):
        with self.lock:
            now = time.time()
            for t in self.access.values():
                t["expires"] = min(t["expires"], now)
        return Reply(200, {"ok": True})

    def admin_revoke(self, req):
        with self.lock:
            for t in self.refresh.values():
                t["spent"] = True
        return Reply(200, {"ok": True})

    def admin_issued(self, req):
        with self.lock:
            return Reply(200, {"access_tokens": list(self.access),
                               "refresh_tokens": list(self.refresh)})

    def admin_refresh_token(self, req):
        spec = req.json() if req.body else {}
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.refresh[token] = {"scope": spec.get("scope"), "spent": False}
        return Reply(201, {"refresh_token": token})


if __name__ == "__main__":
    sys.exit(main(OAuth))
