#!/usr/bin/env python3
"""Stand-in for HubSpot: OAuth 2.0 (authorization code) and CRM contacts.

    hubspot.py --port 0 --client-id ID --client-secret SECRET
               [--expires-in SECONDS] [--page-size N] [--portfile FILE]

Answers as HubSpot's published reference documents:
    GET  /oauth/authorize?client_id&redirect_uri&scope&state
         [&code_challenge&code_challenge_method=S256]
         302 to redirect_uri?code=CODE&state=STATE (the user "approves" at once)
    POST /oauth/v1/token   form: grant_type=authorization_code (client_id,
         client_secret, redirect_uri, code[, code_verifier]) or
         grant_type=refresh_token (client_id, client_secret, refresh_token)
         -> {"token_type":"bearer","access_token","refresh_token","expires_in"}
         Each refresh rotates the refresh token: the old one is then refused.
         Errors: 400 {"status":"BAD_AUTH_CODE"|"BAD_REFRESH_TOKEN"|
         "BAD_CLIENT_ID"|..., "message", "correlationId", "error",
         "error_description"} (error per RFC 6749 section 5.2).
    GET  /crm/v3/objects/contacts?limit=N&after=CURSOR&properties=a,b
         {"results":[{id,properties,createdAt,updatedAt,archived}],
          "paging":{"next":{"after":C,"link":URL}}} (no paging on the last page)
    POST /crm/v3/objects/contacts {"properties":{...}} -> 201 the contact;
         409 CONFLICT when the email exists ("Contact already exists.
         Existing ID: N"), 400 VALIDATION_ERROR on a bad body
    GET  /crm/v3/objects/contacts/ID -> the contact, or 404 OBJECT_NOT_FOUND
CRM requests need Authorization: Bearer ACCESS_TOKEN, else 401
{"status":"error","message",..."category":"INVALID_AUTHENTICATION"} or, for a
token past its expiry, "EXPIRED_AUTHENTICATION".  Every CRM answer carries
X-HubSpot-RateLimit-Max / -Remaining / -Interval-Milliseconds.
Admin (no auth), besides those of standin.py:
    GET  /_admin/tokens    {"token_requests": N, "grants": {...: N}}
    POST /_admin/expire    every access token issued so far expires now
    POST /_admin/revoke    every refresh token is revoked (invalid_grant)
"""

import base64
import hashlib
import os
import secrets
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin import App, Reply, main  # noqa: E402

RATE_MAX = 100
RATE_INTERVAL_MS = 10000


def hs_error(status, category, message, **extra):
    body = {"status": "error", "message": message,
            "correlationId": str(uuid.uuid4()), "category": category}
    body.update(extra)
    return Reply(status, body)


def oauth_error(code, status, message):
    """HubSpot's OAuth error body, which also carries RFC 6749's fields."""
    return Reply(400, {"status": status, "message": message,
                       "correlationId": str(uuid.uuid4()),
                       "error": code, "error_description": message})


def s256(verifier):
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class HubSpot(App):
    """HubSpot OAuth 2.0 and CRM contacts stand-in."""

    name = "hubspot"
    routes = [
        ("GET", r"/oauth/authorize", "authorize"),
        ("POST", r"/oauth/v1/token", "token"),
        ("GET", r"/crm/v3/objects/contacts", "list_contacts"),
        ("POST", r"/crm/v3/objects/contacts", "create_contact"),
        ("GET", r"/crm/v3/objects/contacts/([^/]+)", "get_contact"),
    ]
    admin_routes = [
        ("GET", r"/_admin/tokens", "admin_tokens"),
        ("POST", r"/_admin/expire", "admin_expire"),
        ("POST", r"/_admin/revoke", "admin_revoke"),
    ]

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret", required=True)
        parser.add_argument("--expires-in", type=int, default=1800)
        parser.add_argument("--page-size", type=int, default=100)

    def reset(self):
        super().reset()
        with self.lock:
            self.codes = {}       # code -> {redirect_uri, challenge, scope}
            self.access = {}      # access token -> expiry (epoch seconds)
            self.refresh = set()  # refresh tokens that are valid now
            self.grants = {}
            self.contacts = []

    # -- OAuth --------------------------------------------------------------

    def authorize(self, req):
        if req.param("client_id") != self.args.client_id:
            return hs_error(400, "VALIDATION_ERROR", "unknown client_id")
        redirect = req.param("redirect_uri")
        if not redirect:
            return hs_error(400, "VALIDATION_ERROR", "redirect_uri is required")
        challenge = req.param("code_challenge")
        if challenge and req.param("code_challenge_method") != "S256":
            return hs_error(400, "VALIDATION_ERROR", "code_challenge_method must be S256")
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {"redirect_uri": redirect, "challenge": challenge,
                                "scope": req.param("scope", "")}
        query = {"code": code}
        if req.param("state") is not None:
            query["state"] = req.param("state")
        sep = "&" if "?" in redirect else "?"
        return Reply(302, None,
                     {"Location": redirect + sep + urllib.parse.urlencode(query)})

    def client_ok(self, req, form):
        """Client authentication in the body or by HTTP Basic (RFC 6749 2.3.1)."""
        cid, secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth[6:]).decode()
                cid, secret = (urllib.parse.unquote_plus(p) for p in raw.split(":", 1))
            except Exception:
                return False
        return cid == self.args.client_id and secret == self.args.client_secret

    def issue(self, grant):
        access = "hs-at-" + secrets.token_hex(16)
        refresh = "hs-rt-" + secrets.token_hex(16)
        with self.lock:
            self.access[access] = time.time() + self.args.expires_in
            self.refresh.add(refresh)
            self.grants[grant] = self.grants.get(grant, 0) + 1
        return Reply(200, {"token_type": "bearer", "access_token": access,
                           "refresh_token": refresh,
                           "expires_in": self.args.expires_in})

    def token(self, req):
        if req.content_type() != "application/x-www-form-urlencoded":
            return oauth_error("invalid_request", "BAD_REQUEST",
                               "the body must be form-encoded")
        form = {k: v[-1] for k, v in
                urllib.parse.parse_qs(req.body.decode(), keep_blank_values=True).items()}
        if not self.client_ok(req, form):
            return oauth_error("invalid_client", "BAD_CLIENT_ID",
                               "missing or unknown client id or secret")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self.lock:
                pending = self.codes.pop(form.get("code", ""), None)
            if pending is None or pending["redirect_uri"] != form.get("redirect_uri"):
                return oauth_error("invalid_grant", "BAD_AUTH_CODE",
                                   "missing or unknown auth code")
            if pending["challenge"] and \
                    s256(form.get("code_verifier", "")) != pending["challenge"]:
                return oauth_error("invalid_grant", "BAD_AUTH_CODE",
                                   "code_verifier does not match the challenge")
            return self.issue(grant)
        if grant == "refresh_token":
            with self.lock:
                token = form.get("refresh_token", "")
                valid = token in self.refresh
                self.refresh.discard(token)  # rotated: used once
            if not valid:
                return oauth_error("invalid_grant", "BAD_REFRESH_TOKEN",
                                   "missing or invalid refresh token")
            return self.issue(grant)
        return oauth_error("unsupported_grant_type", "BAD_GRANT_TYPE",
                           "grant_type must be authorization_code or refresh_token")

    def admin_tokens(self, req):
        with self.lock:
            return Reply(200, {"token_requests": sum(self.grants.values()),
                               "grants": dict(self.grants)})

    def admin_expire(self, req):
        with self.lock:
            for t in self.access:
                self.access[t] = 0
        return Reply(200, {"ok": True})

    def admin_revoke(self, req):
        with self.lock:
            self.refresh.clear()
        return Reply(200, {"ok": True})

    # -- CRM ----------------------------------------------------------------

    def check_auth(self, req):
        if req.path.startswith("/oauth/"):
            return None
        auth = req.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        with self.lock:
            expiry = self.access.get(token)
        if expiry is None:
            return hs_error(401, "INVALID_AUTHENTICATION",
                            "Authentication credentials not found.")
        if expiry <= time.time():
            return hs_error(401, "EXPIRED_AUTHENTICATION",
                            "The OAuth token used to make this call expired.")
        return None

    def answer(self, req, entry):
        reply = super().answer(req, entry)
        if req.path.startswith("/crm/"):
            reply.headers.setdefault("X-HubSpot-RateLimit-Max", str(RATE_MAX))
            reply.headers.setdefault("X-HubSpot-RateLimit-Remaining", str(RATE_MAX - 1))
            reply.headers.setdefault("X-HubSpot-RateLimit-Interval-Milliseconds",
                                     str(RATE_INTERVAL_MS))
        return reply

    def view(self, contact, props):
        keys = props if props else ["email", "firstname", "lastname"]
        return {"id": contact["id"], "archived": False,
                "createdAt": contact["createdAt"], "updatedAt": contact["createdAt"],
                "properties": {k: contact["properties"].get(k) for k in keys}}

    def list_contacts(self, req):
        try:
            limit = int(req.param("limit", "10"))
            after = int(req.param("after", "0"))
        except ValueError:
            return hs_error(400, "VALIDATION_ERROR", "limit and after must be numbers")
        if not 1 <= limit <= 100:
            return hs_error(400, "VALIDATION_ERROR", "limit must be between 1 and 100")
        limit = min(limit, self.args.page_size)
        props = [p for p in req.param("properties", "").split(",") if p]
        with self.lock:
            rest = [c for c in self.contacts if int(c["id"]) > after]
        page = rest[:limit]
        body = {"results": [self.view(c, props) for c in page]}
        if len(rest) > limit:
            nxt = page[-1]["id"]
            host = req.headers.get("host", "127.0.0.1")
            link = "http://%s/crm/v3/objects/contacts?after=%s" % (host, nxt)
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return Reply(200, body)

    def create_contact(self, req):
        try:
            props = req.json().get("properties")
        except (ValueError, AttributeError):
            props = None
        if not isinstance(props, dict) or not all(
                isinstance(v, str) for v in props.values()):
            return hs_error(400, "VALIDATION_ERROR",
                            "Invalid input JSON: properties must be an object of strings")
        with self.lock:
            email = props.get("email")
            for c in self.contacts:
                if email and c["properties"].get("email") == email:
                    return hs_error(409, "CONFLICT",
                                    "Contact already exists. Existing ID: " + c["id"])
            contact = {"id": str(len(self.contacts) + 1), "properties": dict(props),
                       "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
            self.contacts.append(contact)
        return Reply(201, self.view(contact, list(props)))

    def get_contact(self, req, ident):
        with self.lock:
            found = [c for c in self.contacts if c["id"] == ident]
        if not found:
            return hs_error(404, "OBJECT_NOT_FOUND", "resource not found")
        props = [p for p in req.param("properties", "").split(",") if p]
        return Reply(200, self.view(found[0], props))


if __name__ == "__main__":
    sys.exit(main(HubSpot))
