#!/usr/bin/env python3
"""Stand-in for the "Progix" CRM REST API (webhooks and accounts).

    progix.py --port 0 --api-key KEY --webhook-secret SECRET
              [--page-size N] [--portfile FILE] [--verbose]

API (Authorization: Bearer KEY required, else 401 {"error":"unauthorized"}):
    GET    /webhooks[?cursor=C]  {"data":[{id,url,events}], "next_cursor":C|null}
    POST   /webhooks             {"url","events"} -> 201 {id,url,events}
    DELETE /webhooks/ID          204, or 404
    GET    /accounts[?ids=a,b]   {"accounts":[{id,name,contact,email}]}
    GET    /accounts/ID          the account, or 404
Admin (no auth), besides those of standin.py:
    GET  /_admin/webhooks        {"webhooks":[...]}
    GET  /_admin/accounts        {"accounts":[...]}
    POST /_admin/accounts        {"accounts":[{name,contact,email}], "deliver":true,
                                  "secret":optional override of the signing secret}
         -> 201 {"accounts":[...with ids], "deliveries":[{url,status,error,body}]}
         after POSTing {"event":"account.created","accounts":[{"id"}]} signed with
         X-Progix-Signature: sha256=HEX to every webhook subscribed to account.created.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin import App, Reply, error, main  # noqa: E402

EVENT = "account.created"


def encode_cursor(after):
    raw = json.dumps({"after": after}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor):
    """The webhook number a cursor points after; ValueError when invalid."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw)["after"]
    except Exception:
        raise ValueError(cursor)
    if not isinstance(after, int):
        raise ValueError(cursor)
    return after


def number(ident):
    return int(ident.split("_", 1)[1])


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Progix(App):
    """Fake Progix CRM REST API."""

    name = "progix"
    routes = [
        ("GET", r"/webhooks", "list_webhooks"),
        ("POST", r"/webhooks", "create_webhook"),
        ("DELETE", r"/webhooks/([^/]+)", "delete_webhook"),
        ("GET", r"/accounts", "get_accounts"),
        ("GET", r"/accounts/([^/]+)", "get_account"),
    ]
    admin_routes = [
        ("GET", r"/_admin/webhooks", "admin_webhooks"),
        ("GET", r"/_admin/accounts", "admin_accounts"),
        ("POST", r"/_admin/accounts", "admin_create_accounts"),
    ]

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--api-key", required=True)
        parser.add_argument("--webhook-secret", required=True)
        parser.add_argument("--page-size", type=int, default=2)

    def reset(self):
        with self.lock:
            super().reset()
            self.webhooks = {}  # id -> {id,url,events}, in creation order
            self.accounts = {}  # id -> account, in creation order
            self.next_webhook = 1
            self.next_account = 1

    def check_auth(self, req):
        expected = "Bearer " + self.args.api_key
        given = req.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Reply(401, {"error": "unauthorized"},
                         {"WWW-Authenticate": 'Bearer realm="progix"'})
        return None

    # -- webhooks -----------------------------------------------------------

    def list_webhooks(self, req):
        after = 0
        cursor = req.param("cursor")
        if cursor:
            try:
                after = decode_cursor(cursor)
            except ValueError:
                return error(400, "invalid cursor")
        size = max(1, self.args.page_size)
        with self.lock:
            rest = [w for w in self.webhooks.values() if number(w["id"]) > after]
        page, more = rest[:size], len(rest) > size
        next_cursor = encode_cursor(number(page[-1]["id"])) if more else None
        return Reply(200, {"data": page, "next_cursor": next_cursor})

    def create_webhook(self, req):
        try:
            spec = req.json()
        except ValueError:
            return error(400, "body is not JSON")
        if not isinstance(spec, dict):
            return error(400, "body must be a JSON object")
        url, events = spec.get("url"), spec.get("events", [])
        if not isinstance(url, str) or not url:
            return error(400, "url is required")
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            return error(400, "events must be a list of strings")
        with self.lock:
            hook = {"id": "wh_%d" % self.next_webhook, "url": url, "events": events}
            self.next_webhook += 1
            self.webhooks[hook["id"]] = hook
        return Reply(201, hook)

    def delete_webhook(self, req, ident):
        with self.lock:
            if self.webhooks.pop(ident, None) is None:
                return error(404, "no such webhook", id=ident)
        return Reply(204)

    # -- accounts -----------------------------------------------------------

    def get_accounts(self, req):
        with self.lock:
            if "ids" not in req.params:
                return Reply(200, {"accounts": list(self.accounts.values())})
            found, seen = [], set()
            for value in req.params["ids"]:
                for ident in value.split(","):
                    ident = ident.strip()
                    if ident in self.accounts and ident not in seen:
                        seen.add(ident)
                        found.append(self.accounts[ident])
        return Reply(200, {"accounts": found})

    def get_account(self, req, ident):
        with self.lock:
            account = self.accounts.get(ident)
        if account is None:
            return error(404, "no such account", id=ident)
        return Reply(200, account)

    # -- admin --------------------------------------------------------------

    def admin_webhooks(self, req):
        with self.lock:
            return Reply(200, {"webhooks": list(self.webhooks.values())})

    def admin_accounts(self, req):
        with self.lock:
            return Reply(200, {"accounts": list(self.accounts.values())})

    def admin_create_accounts(self, req):
        try:
            spec = req.json()
        except ValueError:
            return error(400, "body is not JSON")
        items = spec.get("accounts") if isinstance(spec, dict) else None
        if not isinstance(items, list) or not all(isinstance(a, dict) for a in items):
            return error(400, "accounts must be a list of objects")
        created = []
        with self.lock:
            for item in items:
                account = {"id": "acc_%d" % self.next_account}
                self.next_account += 1
                account.update({k: v for k, v in item.items() if k != "id"})
                for k in ("name", "contact", "email"):
                    account.setdefault(k, None)
                self.accounts[account["id"]] = account
                created.append(account)
            targets = [w["url"] for w in self.webhooks.values() if EVENT in w["events"]]
        deliveries = []
        if spec.get("deliver", True) and created:
            payload = {"event": EVENT, "accounts": [{"id": a["id"]} for a in created]}
            body = json.dumps(payload, separators=(",", ":")).encode()
            secret = spec.get("secret") or self.args.webhook_secret
            # The lock is not held here: the receiver may call back into us.
            deliveries = [deliver(url, body, sign(secret, body)) for url in targets]
        return Reply(201, {"accounts": created, "deliveries": deliveries})


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def deliver(url, body, signature):
    """POST one webhook; {url, status, error, body} (status None = no answer)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Progix-Signature": signature,
        "User-Agent": "progix-standin"})
    result = {"url": url, "status": None, "error": None, "body": None}
    try:
        with OPENER.open(request, timeout=30) as response:
            result["status"] = response.status
            result["body"] = response.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        result["status"] = e.code
        result["body"] = e.read(4096).decode("utf-8", "replace")
    except Exception as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
    return result


if __name__ == "__main__":
    sys.exit(main(Progix))
