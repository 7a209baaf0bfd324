#!/usr/bin/env python3
"""Stand-in for the Stripe API: customers and webhook endpoints.

    stripe.py --port 0 --api-key sk_test_... [--portfile FILE] [--verbose]

Answers as Stripe's API reference documents:
    GET    /v1/customers[?limit&starting_after|ending_before&email]
    POST   /v1/customers              form: email, name, description, phone,
                                      balance, preferred_locales[], metadata[K]
    GET    /v1/customers/ID
    DELETE /v1/customers/ID           {"id","object":"customer","deleted":true}
    GET    /v1/webhook_endpoints[?limit&starting_after|ending_before]
    POST   /v1/webhook_endpoints      form: url, enabled_events[] (required),
                                      description, api_version, connect,
                                      metadata[K]; the answer alone holds the
                                      signing secret (whsec_...)
    GET    /v1/webhook_endpoints/ID   (no secret)
    DELETE /v1/webhook_endpoints/ID
Authentication: the secret key as "Authorization: Bearer KEY" or as the user
of HTTP Basic ("KEY:"); else 401 with Stripe's error object (the key shown
masked, as Stripe does).  Bodies are application/x-www-form-urlencoded with
nested values in brackets (metadata[plan]=pro, enabled_events[0]=x or
enabled_events[]=x); an unknown parameter is 400 parameter_unknown.
Lists are {"object":"list","data":[...],"has_more":B,"url":PATH}, newest
first, limit 1 to 100 (default 10).  Errors are
{"error":{"type","message"[,"code","param"]}}: 404 resource_missing for an
unknown id ("No such customer: 'cus_x'"), 404 for an unknown URL.
Idempotency-Key on a POST (at most 255 characters): the first answer an
endpoint gave is saved and given again, with "Idempotent-Replayed: true",
to a request with the same key, endpoint and parameters; the same key with
other parameters or another endpoint is 400 idempotency_error; the same key
while its first request is still running is 409 idempotency_error.  Answers
made before the endpoint runs (bad auth, bad parameters, injected failures)
are not saved.  Every answer carries Request-Id.
Admin (no auth), besides those of standin.py:
    GET  /_admin/customers           {"customers":[...]} in creation order
    POST /_admin/customers           {"customers":[{email,name,...}]} created
                                     without a request -> {"customers":[...]}
    GET  /_admin/webhook_endpoints   {"webhook_endpoints":[...]} (with secrets)
    POST /_admin/lose                {"count":N,"status":S[,"path":P]}: the next
         N POSTs (to P) run and save their answer, but the client gets S (an
         answer lost on the way, as when a proxy fails) -> {"lose":...}
    POST /_admin/events              {"type":T,"object":{...}}: an Event sent,
         signed with Stripe-Signature: t=TS,v1=HMAC-SHA256(secret, "TS.BODY"),
         to every enabled endpoint whose enabled_events hold T or "*"
         -> {"event":{...},"deliveries":[{url,status,error,body}]}
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin import App, Reply, main  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MAX_KEY = 255
ALNUM = string.ascii_letters + string.digits

CUSTOMER_PARAMS = {"email", "name", "description", "phone", "balance",
                   "preferred_locales", "metadata", "expand"}
ENDPOINT_PARAMS = {"url", "enabled_events", "description", "api_version",
                   "connect", "metadata", "expand"}
LIST_PARAMS = {"limit", "starting_after", "ending_before", "expand"}


class StripeError(Exception):
    """An answer made before the endpoint runs (not saved for idempotency)."""

    def __init__(self, status, type_, message, code=None, param=None):
        super().__init__(message)
        self.reply = stripe_error(status, type_, message, code, param)


def stripe_error(status, type_, message, code=None, param=None, headers=None):
    err = {"type": type_, "message": message}
    if code:
        err["code"] = code
        err["doc_url"] = "https://stripe.com/docs/error-codes/" + code.replace("_", "-")
    if param:
        err["param"] = param
    return Reply(status, {"error": err}, headers)


def invalid(message, code=None, param=None, status=400):
    return StripeError(status, "invalid_request_error", message, code, param)


def new_id(prefix):
    return prefix + "".join(secrets.choice(ALNUM) for _ in range(14))


def mask(key):
    """A key as Stripe shows it in errors: its kind, stars, its last four."""
    m = re.match(r"(?:sk|rk|pk)_(?:test|live)_", key)
    kind = m.group(0) if m else ""
    rest = len(key) - len(kind)
    return kind + ("*" * (rest - 4) + key[-4:] if rest > 12 else "*" * rest)


# -- form bodies ------------------------------------------------------------

NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def parse_form(text):
    """Form pairs to nested values: a[b]=1 -> {"a": {"b": "1"}}; a[0]=x or
    a[]=x -> {"a": ["x"]}.  Raises StripeError on a malformed name."""
    root = {}
    for name, value in urllib.parse.parse_qsl(text, keep_blank_values=True,
                                              strict_parsing=False):
        m = NAME.fullmatch(name)
        if not m:
            raise invalid("Invalid request: malformed parameter name '%s'" % name)
        keys = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
        node = root
        for i, k in enumerate(keys):
            last = i == len(keys) - 1
            if k == "":
                k = len([x for x in node if isinstance(x, int)])
            elif k.isdigit() and i > 0:
                k = int(k)
            if last:
                if isinstance(node.get(k), dict):
                    raise invalid("Invalid request: '%s' is given as a value "
                                  "and as a hash" % name, param=keys[0])
                node[k] = value
            else:
                child = node.setdefault(k, {})
                if not isinstance(child, dict):
                    if child == "":
                        child = node[k] = {}
                    else:
                        raise invalid("Invalid request: '%s' is given as a value "
                                      "and as a hash" % name, param=keys[0])
                node = child
    return lists(root, None)


def lists(node, name):
    """Dicts whose keys are all 0..n-1 become lists."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        if sorted(node) != list(range(len(node))):
            raise invalid("Invalid array", param=name)
        return [lists(node[i], name) for i in range(len(node))]
    if any(isinstance(k, int) for k in node):
        raise invalid("Invalid hash", param=name)
    return {k: lists(v, name or k) for k, v in node.items()}


def metadata_of(value):
    if value is None:
        return {}
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", param="metadata")
    out = {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise invalid("Invalid string: metadata values must be strings",
                          param="metadata[%s]" % k)
        if len(k) > 40:
            raise invalid("Metadata keys can have up to 40 characters.",
                          param="metadata[%s]" % k)
        if len(v) > 500:
            raise invalid("Metadata values can have up to 500 characters.",
                          param="metadata[%s]" % k)
        if v != "":  # an empty value unsets the key
            out[k] = v
    if len(out) > 50:
        raise invalid("Metadata can have up to 50 keys.", param="metadata")
    return out


def check_known(params, known):
    for k in params:
        if k not in known:
            raise invalid("Received unknown parameter: %s" % k,
                          code="parameter_unknown", param=k)


def string_param(params, name, required=False):
    v = params.get(name)
    if v is None:
        if required:
            raise invalid("Missing required param: %s." % name,
                          code="parameter_missing", param=name)
        return None
    if not isinstance(v, str):
        raise invalid("Invalid string: %s" % name, param=name)
    return v or None  # "" unsets


class Stripe(App):
    """Stripe API stand-in: customers, webhook endpoints, idempotency."""

    name = "stripe"
    routes = [
        ("GET", r"/v1/customers", "list_customers"),
        ("POST", r"/v1/customers", "create_customer"),
        ("GET", r"/v1/customers/([^/]+)", "get_customer"),
        ("DELETE", r"/v1/customers/([^/]+)", "delete_customer"),
        ("GET", r"/v1/webhook_endpoints", "list_endpoints"),
        ("POST", r"/v1/webhook_endpoints", "create_endpoint"),
        ("GET", r"/v1/webhook_endpoints/([^/]+)", "get_endpoint"),
        ("DELETE", r"/v1/webhook_endpoints/([^/]+)", "delete_endpoint"),
    ]
    admin_routes = [
        ("GET", r"/_admin/customers", "admin_customers"),
        ("POST", r"/_admin/customers", "admin_add_customers"),
        ("GET", r"/_admin/webhook_endpoints", "admin_endpoints"),
        ("POST", r"/_admin/lose", "admin_lose"),
        ("POST", r"/_admin/events", "admin_events"),
    ]

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--api-key", required=True)

    def reset(self):
        super().reset()
        with self.lock:
            self.customers = []     # creation order
            self.endpoints = []
            self.saved = {}         # idempotency key -> saved request/answer
            self.running = set()    # keys whose first request runs now
            self.losing = []        # [{count, status, path}]

    # -- common -------------------------------------------------------------

    def livemode(self):
        return self.args.api_key.startswith(("sk_live_", "rk_live_"))

    def check_auth(self, req):
        auth = req.headers.get("authorization", "")
        key = None
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
        elif auth[:6].lower() == "basic ":
            try:
                key = base64.b64decode(auth[6:].strip(), validate=True) \
                    .decode("utf-8").split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if key is None or key == "":
            return stripe_error(
                401, "invalid_request_error",
                "You did not provide an API key. You need to provide your API "
                "key in the Authorization header, using Bearer auth (e.g. "
                "'Authorization: Bearer YOUR_SECRET_KEY').",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'})
        if not hmac.compare_digest(key.encode(), self.args.api_key.encode()):
            return stripe_error(401, "invalid_request_error",
                                "Invalid API Key provided: " + mask(key),
                                headers={"WWW-Authenticate": 'Basic realm="Stripe"'})
        return None

    def injected_body(self, status):
        if status == 429:
            return {"error": {"type": "invalid_request_error", "code": "rate_limit",
                              "message": "Too many requests hit the API too quickly."}}
        return {"error": {"type": "api_error",
                          "message": "An unknown error occurred (injected %d)." % status}}

    def failure_reply(self, f):
        reply = super().failure_reply(f)
        if f["status"] == 429 or f["status"] >= 500:
            reply.headers.setdefault("Stripe-Should-Retry", "true")
        return reply

    def answer(self, req, entry):
        reply = super().answer(req, entry)
        reply.headers.setdefault("Request-Id", new_id("req_"))
        return reply

    def not_found(self, req):
        return stripe_error(404, "invalid_request_error",
                            "Unrecognized request URL (%s: %s)." % (req.method, req.path))

    method_not_allowed = not_found

    def params(self, req):
        """The request's parameters: the query for GET and DELETE, the form
        body for POST (Stripe reads both)."""
        ctype = req.content_type()
        if req.body and ctype not in ("application/x-www-form-urlencoded", ""):
            raise invalid("Invalid request: bodies must be "
                          "application/x-www-form-urlencoded, not %s" % ctype)
        text = req.query
        if req.body:
            try:
                body = req.body.decode("utf-8")
            except UnicodeDecodeError:
                raise invalid("Invalid request: the body is not UTF-8")
            text = text + "&" + body if text else body
        return parse_form(text)

    def handle(self, req, fn, *args):
        try:
            return fn(req, *args)
        except StripeError as e:
            return e.reply

    # -- idempotency --------------------------------------------------------

    def idempotent(self, req, params, run):
        """Runs run() (which returns a Reply) once per Idempotency-Key."""
        key = req.headers.get("idempotency-key")
        if key is None:
            return self.lost(req, run())
        if len(key) > MAX_KEY:
            raise StripeError(400, "idempotency_error",
                              "Idempotency keys can be at most %d characters long."
                              % MAX_KEY)
        mine = (req.method, req.path, json.dumps(params, sort_keys=True))
        with self.lock:
            saved = self.saved.get(key)
            if saved is None and key in self.running:
                return stripe_error(
                    409, "idempotency_error",
                    "There is currently another in-progress request using this "
                    "Idempotent Key (that probably means you submitted twice, and "
                    "the other request is still going through): %s. Please try "
                    "again later." % key)
            if saved is None:
                self.running.add(key)
        if saved is not None:
            if saved["request"] != mine:
                return stripe_error(
                    400, "idempotency_error",
                    "Keys for idempotent requests can only be used with the same "
                    "parameters they were first used with. Try using a key other "
                    "than '%s' if you meant to execute a different request." % key)
            return Reply(saved["status"], saved["body"],
                         {"Idempotent-Replayed": "true",
                          "Original-Request": saved["request_id"]})
        try:
            reply = run()
            request_id = new_id("req_")
            reply.headers["Request-Id"] = request_id
            with self.lock:
                self.saved[key] = {"request": mine, "status": reply.status,
                                   "body": reply.body, "request_id": request_id}
        finally:
            with self.lock:
                self.running.discard(key)
        return self.lost(req, reply)

    def lost(self, req, reply):
        """The answer, unless /_admin/lose says the client does not get it."""
        with self.lock:
            for f in self.losing:
                if f["count"] != 0 and f["path"] in (None, req.path):
                    f["count"] -= 1
                    return Reply(f["status"], {"error": {
                        "type": "api_error",
                        "message": "the answer was lost on the way (stand-in)"}})
        return reply

    # -- lists --------------------------------------------------------------

    def list_of(self, req, objects, path, kind, view, match=None):
        params = self.params(req)
        check_known(params, LIST_PARAMS | ({"email"} if kind == "customer" else set()))
        raw = params.get("limit", "10")
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            raise invalid("Invalid integer: %s" % raw, param="limit")
        if not 1 <= limit <= 100:
            raise invalid("This value must be greater than or equal to 1 and "
                          "less than or equal to 100.", param="limit")
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise invalid("You may only specify one of these parameters: "
                          "ending_before, starting_after.")
        with self.lock:
            newest = [o for o in reversed(objects) if match is None or match(o)]
            everything = list(reversed(objects))
            cursor = after or before
            if cursor is not None and cursor not in [o["id"] for o in everything]:
                raise invalid("No such %s: '%s'" % (kind, cursor),
                              code="resource_missing",
                              param="starting_after" if after else "ending_before")
            if after:
                # the objects older than the cursor object
                pos = [o["id"] for o in everything].index(after)
                older = {o["id"] for o in everything[pos + 1:]}
                rest = [o for o in newest if o["id"] in older]
                page = rest[:limit]
                more = len(rest) > limit
            elif before:
                pos = [o["id"] for o in everything].index(before)
                newer = {o["id"] for o in everything[:pos]}
                rest = [o for o in newest if o["id"] in newer]
                page = rest[-limit:]
                more = len(rest) > limit
            else:
                page = newest[:limit]
                more = len(newest) > limit
            data = [view(o) for o in page]
        return Reply(200, {"object": "list", "data": data, "has_more": more,
                           "url": path})

    # -- customers ----------------------------------------------------------

    def customer_view(self, c):
        return dict(c)

    def make_customer(self, params):
        check_known(params, CUSTOMER_PARAMS)
        balance = params.get("balance", "0")
        try:
            balance = int(balance)
        except (TypeError, ValueError):
            raise invalid("Invalid integer: %s" % balance, param="balance")
        locales = params.get("preferred_locales") or []
        if isinstance(locales, str) or not all(isinstance(x, str) for x in locales):
            raise invalid("Invalid array", param="preferred_locales")
        customer = {
            "id": new_id("cus_"), "object": "customer", "address": None,
            "balance": balance, "created": int(time.time()), "currency": None,
            "default_source": None, "delinquent": False,
            "description": string_param(params, "description"),
            "email": string_param(params, "email"),
            "invoice_prefix": secrets.token_hex(4).upper(),
            "livemode": self.livemode(),
            "metadata": metadata_of(params.get("metadata")),
            "name": string_param(params, "name"),
            "next_invoice_sequence": 1,
            "phone": string_param(params, "phone"),
            "preferred_locales": locales, "shipping": None,
            "tax_exempt": "none", "test_clock": None,
        }
        return customer

    def list_customers(self, req):
        def run(req):
            email = self.params(req).get("email")
            match = None if email is None else (lambda c: c["email"] == email)
            return self.list_of(req, self.customers, "/v1/customers", "customer",
                                self.customer_view, match)
        return self.handle(req, run)

    def create_customer(self, req):
        def run(req):
            params = self.params(req)
            customer = self.make_customer(params)  # validation: not saved

            def create():
                with self.lock:
                    self.customers.append(customer)
                return Reply(200, self.customer_view(customer))
            return self.idempotent(req, params, create)
        return self.handle(req, run)

    def find(self, objects, ident, kind):
        with self.lock:
            for o in objects:
                if o["id"] == ident:
                    return o
        raise invalid("No such %s: '%s'" % (kind, ident), code="resource_missing",
                      param="id", status=404)

    def get_customer(self, req, ident):
        return self.handle(req, lambda r: Reply(
            200, self.customer_view(self.find(self.customers, ident, "customer"))))

    def delete_customer(self, req, ident):
        def run(req):
            c = self.find(self.customers, ident, "customer")
            with self.lock:
                self.customers.remove(c)
            return Reply(200, {"id": ident, "object": "customer", "deleted": True})
        return self.handle(req, run)

    # -- webhook endpoints --------------------------------------------------

    def endpoint_view(self, e, secret=False):
        out = {k: v for k, v in e.items() if k != "secret"}
        if secret:
            out["secret"] = e["secret"]
        return out

    def list_endpoints(self, req):
        return self.handle(req, lambda r: self.list_of(
            r, self.endpoints, "/v1/webhook_endpoints", "webhook_endpoint",
            self.endpoint_view))

    def create_endpoint(self, req):
        def run(req):
            params = self.params(req)
            check_known(params, ENDPOINT_PARAMS)
            url = string_param(params, "url", required=True)
            if not re.match(r"https?://[^/\s]+", url or ""):
                raise invalid("Invalid URL: %s" % url, code="url_invalid", param="url")
            events = params.get("enabled_events")
            if events is None:
                raise invalid("Missing required param: enabled_events.",
                              code="parameter_missing", param="enabled_events")
            if not isinstance(events, list) or not events or \
                    not all(isinstance(e, str) and e for e in events):
                raise invalid("Invalid array", param="enabled_events")
            connect = params.get("connect", "false")
            if connect not in ("true", "false"):
                raise invalid("Invalid boolean: %s" % connect, param="connect")
            endpoint = {
                "id": new_id("we_"), "object": "webhook_endpoint",
                "api_version": string_param(params, "api_version"),
                "application": None, "created": int(time.time()),
                "description": string_param(params, "description"),
                "enabled_events": events, "livemode": self.livemode(),
                "metadata": metadata_of(params.get("metadata")),
                "secret": "whsec_" + secrets.token_hex(16),
                "status": "enabled", "url": url,
            }

            def create():
                with self.lock:
                    self.endpoints.append(endpoint)
                return Reply(200, self.endpoint_view(endpoint, secret=True))
            return self.idempotent(req, params, create)
        return self.handle(req, run)

    def get_endpoint(self, req, ident):
        return self.handle(req, lambda r: Reply(200, self.endpoint_view(
            self.find(self.endpoints, ident, "webhook_endpoint"))))

    def delete_endpoint(self, req, ident):
        def run(req):
            e = self.find(self.endpoints, ident, "webhook_endpoint")
            with self.lock:
                self.endpoints.remove(e)
            return Reply(200, {"id": ident, "object": "webhook_endpoint",
                               "deleted": True})
        return self.handle(req, run)

    # -- admin --------------------------------------------------------------

    def admin_customers(self, req):
        with self.lock:
            return Reply(200, {"customers": [dict(c) for c in self.customers]})

    def admin_add_customers(self, req):
        try:
            spec = req.json()
            given = spec["customers"]
            assert isinstance(given, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return Reply(400, {"error": "body must be {\"customers\": [...]}"})
        made = []
        try:
            for c in given:
                params = {k: v for k, v in c.items() if v is not None}
                made.append(self.make_customer(params))
        except StripeError as e:
            return e.reply
        with self.lock:
            self.customers.extend(made)
        return Reply(201, {"customers": made})

    def admin_endpoints(self, req):
        with self.lock:
            return Reply(200, {"webhook_endpoints": [dict(e) for e in self.endpoints]})

    def admin_lose(self, req):
        try:
            spec = req.json()
            status = spec["status"]
            count = spec.get("count", 1)
            assert isinstance(status, int) and isinstance(count, int)
        except (ValueError, KeyError, TypeError, AssertionError, AttributeError):
            return Reply(400, {"error": "body must be {\"status\": S, \"count\": N}"})
        with self.lock:
            self.losing.append({"count": count, "status": status,
                                "path": spec.get("path")})
            return Reply(201, {"lose": [dict(f) for f in self.losing]})

    def admin_events(self, req):
        try:
            spec = req.json()
            type_ = spec["type"]
            obj = spec.get("object", {})
            assert isinstance(type_, str) and isinstance(obj, dict)
        except (ValueError, KeyError, TypeError, AssertionError, AttributeError):
            return Reply(400, {"error": "body must be {\"type\": T, \"object\": {...}}"})
        with self.lock:
            targets = [dict(e) for e in self.endpoints if e["status"] == "enabled" and
                       (type_ in e["enabled_events"] or "*" in e["enabled_events"])]
        event = {"id": new_id("evt_"), "object": "event", "api_version": None,
                 "created": int(time.time()), "data": {"object": obj},
                 "livemode": self.livemode(), "pending_webhooks": len(targets),
                 "request": {"id": None, "idempotency_key": None}, "type": type_}
        body = json.dumps(event).encode()
        deliveries = [deliver(e["url"], body, sign(e["secret"], body,
                                                   spec.get("timestamp")))
                      for e in targets]
        return Reply(200, {"event": event, "deliveries": deliveries})


def sign(secret, body, timestamp=None):
    """The Stripe-Signature header for body: t=TS,v1=HMAC(secret, TS.body)."""
    ts = str(int(timestamp if timestamp is not None else time.time()))
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256)
    return "t=%s,v1=%s" % (ts, mac.hexdigest())


def deliver(url, body, signature):
    """POST one event; {url, status, error, body} (status None = no answer)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature, "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
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
    sys.exit(main(Stripe))
