#!/usr/bin/env python3
"""Stand-in for GitHub's REST API (repository webhooks, issues, comments),
answering as GitHub's REST reference (API version 2022-11-28) documents.

    github.py --port 0 --token TOKEN [--repos OWNER/REPO,...]
              [--max-per-page N] [--ping] [--portfile FILE] [--verbose]

Every API request needs "Authorization: Bearer TOKEN" (or "token TOKEN"):
without one, 401 {"message": "Requires authentication"}; with another token,
401 {"message": "Bad credentials"}.  Error bodies are GitHub's:
{"message", "documentation_url", "status"} and, for 422, "errors".  Every
answer carries x-ratelimit-limit/-remaining/-used/-reset/-resource; when the
remaining count reaches 0 the answer is 403 "API rate limit exceeded".
An X-GitHub-Api-Version other than 2022-11-28 is 400.

    GET    /repos/O/R/hooks                     list (paginated)
    POST   /repos/O/R/hooks                     {name?, config: {url, content_type?,
                                                 secret?, insecure_ssl?}, events?,
                                                 active?} -> 201, 422
    GET    /repos/O/R/hooks/ID                  the hook, or 404
    DELETE /repos/O/R/hooks/ID                  204, or 404
    GET    /repos/O/R/issues                    ?state=open|closed|all&labels=a,b
                                                 (paginated; pull requests included)
    POST   /repos/O/R/issues                    {title, body?, labels?, assignees?}
                                                 -> 201, 422
    GET    /repos/O/R/issues/N/comments         list (paginated), 404
    POST   /repos/O/R/issues/N/comments         {body} -> 201, 422, 404

An unknown repository (not in --repos) is 404 {"message": "Not Found"}.
Lists take per_page (default 30, at most 100, and at most --max-per-page)
and page (default 1), and carry a Link header with rel="prev", "next",
"first" and "last" as they apply, absolute URLs on the Host the request
came to (or on the link base set by /_admin/link_base).

Admin (no auth), besides those of standin.py:
    GET  /_admin/hooks                  {"hooks": [...with "repo" and the secret]}
    GET  /_admin/issues                 {"issues": [...with "repo"]}
    GET  /_admin/comments               {"comments": [...with "repo", "issue_number"]}
    GET  /_admin/deliveries             {"deliveries": [{hook_id,event,url,status,...}]}
    POST /_admin/issues                 {"repo": "O/R", "issues": [{title, body?,
                                         labels?, pull_request?: true}],
                                         "deliver": true}
         -> 201 {"issues": [...], "deliveries": [...]}: for each issue an
         "issues" event (action "opened") is POSTed, signed with
         X-Hub-Signature-256: sha256=HEX (HMAC-SHA256 of the body under the
         hook's secret), to every active hook of the repository subscribed
         to "issues" or "*"
    POST /_admin/link_base              {"url": "http://HOST:PORT" | null}: the
                                         base of the URLs in Link headers
    POST /_admin/ratelimit              {"remaining": N}
With --ping, creating a hook sends it a "ping" event (in a thread, as GitHub
delivers asynchronously).
"""

import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin import App, Reply, main  # noqa: E402

DOCS = "https://docs.github.com/rest"
API_VERSIONS = ("2022-11-28",)
RATE_LIMIT = 5000
USER = {"login": "octocat", "id": 1, "type": "User"}
REPO = r"/repos/([^/]+)/([^/]+)"


def gh_error(status, message, doc=DOCS, errors=None, headers=None):
    # in the order GitHub writes them
    body = {"message": message}
    if errors is not None:
        body["errors"] = errors
    body.update({"documentation_url": doc, "status": str(status)})
    return Reply(status, body, headers)


def validation_failed(doc, *errors):
    return gh_error(422, "Validation Failed", doc, list(errors))


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class GitHub(App):
    """Fake GitHub REST API."""

    name = "github"
    routes = [
        ("GET", REPO + r"/hooks", "list_hooks"),
        ("POST", REPO + r"/hooks", "create_hook"),
        ("GET", REPO + r"/hooks/([^/]+)", "get_hook"),
        ("DELETE", REPO + r"/hooks/([^/]+)", "delete_hook"),
        ("GET", REPO + r"/issues", "list_issues"),
        ("POST", REPO + r"/issues", "create_issue"),
        ("GET", REPO + r"/issues/([^/]+)/comments", "list_comments"),
        ("POST", REPO + r"/issues/([^/]+)/comments", "create_comment"),
    ]
    admin_routes = [
        ("GET", r"/_admin/hooks", "admin_hooks"),
        ("GET", r"/_admin/issues", "admin_issues"),
        ("POST", r"/_admin/issues", "admin_create_issues"),
        ("GET", r"/_admin/comments", "admin_comments"),
        ("GET", r"/_admin/deliveries", "admin_deliveries"),
        ("POST", r"/_admin/link_base", "admin_link_base"),
        ("POST", r"/_admin/ratelimit", "admin_ratelimit"),
    ]

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--token", required=True)
        parser.add_argument("--repos", default="octo-org/hello-world",
                            help="comma-separated OWNER/REPO that exist")
        parser.add_argument("--max-per-page", type=int, default=100)
        parser.add_argument("--ping", action="store_true",
                            help="send a ping event to each new hook")

    def reset(self):
        with self.lock:
            super().reset()
            names = [r.strip() for r in self.args.repos.split(",") if r.strip()]
            # full name (lower case: GitHub's names are not case sensitive)
            # -> {"id", "full_name", "name", "owner"}
            self.repos = {}
            for i, full in enumerate(names):
                owner, name = full.split("/", 1)
                self.repos[full.lower()] = {
                    "id": 1000 + i, "full_name": full, "name": name,
                    "owner": {"login": owner, "id": 2000 + i, "type": "Organization"},
                    "private": False}
            self.hooks = {}  # id -> hook (with "repo" and "secret")
            self.issues = {}  # (repo, number) -> issue
            self.comments = []  # in creation order
            self.deliveries = []
            self.next_id = 1
            self.link_base = None
            self.remaining = RATE_LIMIT
            self.reset_at = int(time.time()) + 3600

    def new_id(self):
        with self.lock:
            n = self.next_id
            self.next_id += 1
            return n

    # -- what every API answer goes through ---------------------------------

    def answer(self, req, entry):
        reply = super().answer(req, entry)
        with self.lock:
            reply.headers.update(self.rate_headers())
        reply.headers.setdefault("X-GitHub-Media-Type", "github.v3; format=json")
        reply.headers.setdefault("X-GitHub-Request-Id", uuid.uuid4().hex[:16].upper())
        return reply

    def rate_headers(self):
        return {"x-ratelimit-limit": str(RATE_LIMIT),
                "x-ratelimit-remaining": str(self.remaining),
                "x-ratelimit-used": str(RATE_LIMIT - self.remaining),
                "x-ratelimit-reset": str(self.reset_at),
                "x-ratelimit-resource": "core"}

    def check_auth(self, req):
        given = req.headers.get("authorization", "")
        if not given:
            return gh_error(401, "Requires authentication")
        scheme, _, token = given.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not hmac.compare_digest(
                token.strip().encode(), self.args.token.encode()):
            return gh_error(401, "Bad credentials")
        version = req.headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            return gh_error(400, "Unsupported 'X-GitHub-Api-Version' header "
                            "value '%s'" % version,
                            "https://docs.github.com/rest/about-the-rest-api/api-versions")
        with self.lock:
            if self.remaining <= 0:
                return gh_error(
                    403, "API rate limit exceeded for user ID %d. If you reach "
                    "out to GitHub Support for help, please include the "
                    "request ID." % USER["id"],
                    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
            self.remaining -= 1
        return None

    def injected_body(self, status):
        return {"message": "injected failure", "documentation_url": DOCS,
                "status": str(status)}

    def not_found(self, req):
        return gh_error(404, "Not Found")

    def method_not_allowed(self, req):
        return gh_error(404, "Not Found")

    def repo(self, owner, name):
        with self.lock:
            return self.repos.get(("%s/%s" % (owner, name)).lower())

    def body_object(self, req):
        """The JSON object body, or a Reply refusing it."""
        try:
            spec = json.loads(req.body.decode("utf-8") or "null")
        except ValueError:
            return None, gh_error(400, "Problems parsing JSON")
        if not isinstance(spec, dict):
            return None, gh_error(400, "Problems parsing JSON")
        return spec, None

    # -- pagination ---------------------------------------------------------

    def paginate(self, req, items, doc):
        """The page of items that per_page/page ask for, with its Link."""
        try:
            per_page = int(req.param("per_page", "30"))
            page = int(req.param("page", "1"))
        except ValueError:
            return gh_error(422, "Invalid request.\n\nper_page and page must be "
                            "integers.", doc)
        per_page = max(1, min(per_page, 100, self.args.max_per_page))
        page = max(1, page)
        last = max(1, (len(items) + per_page - 1) // per_page)
        chunk = items[(page - 1) * per_page:page * per_page]
        headers = {}
        links = []
        if page > 1:
            links.append(("prev", min(page - 1, last)))
        if page < last:
            links.append(("next", page + 1))
            links.append(("last", last))
        if page > 1:
            links.append(("first", 1))
        if links:
            headers["Link"] = ", ".join(
                '<%s>; rel="%s"' % (self.page_url(req, per_page, n), rel)
                for rel, n in links)
        return Reply(200, chunk, headers)

    def page_url(self, req, per_page, page):
        with self.lock:
            base = self.link_base
        if not base:
            base = "http://" + req.headers.get("host", "127.0.0.1")
        params = [(k, v) for k, vs in req.params.items() for v in vs
                  if k not in ("page", "per_page")]
        params += [("per_page", str(per_page)), ("page", str(page))]
        return "%s%s?%s" % (base.rstrip("/"), req.path, urllib.parse.urlencode(params))

    # -- hooks --------------------------------------------------------------

    def hook_view(self, hook):
        view = {k: v for k, v in hook.items() if k not in ("repo", "secret")}
        view["config"] = dict(hook["config"])
        if hook.get("secret"):
            view["config"]["secret"] = "********"
        return view

    def list_hooks(self, req, owner, name):
        repo = self.repo(owner, name)
        if repo is None:
            return gh_error(404, "Not Found",
                            DOCS + "/repos/webhooks#list-repository-webhooks")
        with self.lock:
            hooks = [self.hook_view(h) for h in self.hooks.values()
                     if h["repo"] == repo["full_name"]]
        return self.paginate(req, hooks, DOCS + "/repos/webhooks#list-repository-webhooks")

    def create_hook(self, req, owner, name):
        doc = DOCS + "/repos/webhooks#create-a-repository-webhook"
        repo = self.repo(owner, name)
        if repo is None:
            return gh_error(404, "Not Found", doc)
        spec, bad = self.body_object(req)
        if bad:
            return bad
        config = spec.get("config")
        events = spec.get("events", ["push"])
        if spec.get("name", "web") != "web":
            return validation_failed(doc, {"resource": "Hook", "code": "invalid",
                                           "field": "name"})
        if not isinstance(config, dict) or not isinstance(config.get("url"), str) \
                or not config["url"]:
            return validation_failed(doc, {"resource": "Hook", "code": "custom",
                                           "message": "Config must contain URL "
                                           "for webhooks"})
        if not isinstance(events, list) or not events or \
                not all(isinstance(e, str) for e in events):
            return validation_failed(doc, {"resource": "Hook", "code": "invalid",
                                           "field": "events"})
        if config.get("content_type", "form") not in ("json", "form"):
            return validation_failed(doc, {"resource": "Hook", "code": "invalid",
                                           "field": "content_type"})
        with self.lock:
            for h in self.hooks.values():
                if h["repo"] == repo["full_name"] and \
                        h["config"]["url"] == config["url"] and \
                        set(h["events"]) & set(events):
                    return validation_failed(doc, {
                        "resource": "Hook", "code": "custom",
                        "message": "Hook already exists on this repository"})
            ident = self.next_id
            self.next_id += 1
            api = "http://" + req.headers.get("host", "127.0.0.1")
            url = "%s/repos/%s/hooks/%d" % (api, repo["full_name"], ident)
            stamp = now_iso()
            hook = {
                "type": "Repository", "id": ident, "name": "web",
                "active": bool(spec.get("active", True)), "events": events,
                "config": {"content_type": config.get("content_type", "form"),
                           "insecure_ssl": str(config.get("insecure_ssl", "0")),
                           "url": config["url"]},
                "updated_at": stamp, "created_at": stamp, "url": url,
                "test_url": url + "/test", "ping_url": url + "/pings",
                "deliveries_url": url + "/deliveries",
                "last_response": {"code": None, "status": "unused", "message": None},
                "repo": repo["full_name"], "secret": config.get("secret") or None,
            }
            self.hooks[ident] = hook
            view = self.hook_view(hook)
        if self.args.ping:
            payload = {"zen": "Keep it logically awesome.", "hook_id": ident,
                       "hook": view, "repository": self.repo_view(repo),
                       "sender": USER}
            threading.Thread(target=self.deliver, args=(hook, "ping", payload),
                             daemon=True).start()
        return Reply(201, view, {"Location": url})

    def find_hook(self, owner, name, ident):
        repo = self.repo(owner, name)
        if repo is None:
            return None
        try:
            n = int(ident)
        except ValueError:
            return None
        with self.lock:
            hook = self.hooks.get(n)
        return hook if hook and hook["repo"] == repo["full_name"] else None

    def get_hook(self, req, owner, name, ident):
        hook = self.find_hook(owner, name, ident)
        if hook is None:
            return gh_error(404, "Not Found",
                            DOCS + "/repos/webhooks#get-a-repository-webhook")
        with self.lock:
            return Reply(200, self.hook_view(hook))

    def delete_hook(self, req, owner, name, ident):
        hook = self.find_hook(owner, name, ident)
        if hook is None:
            return gh_error(404, "Not Found",
                            DOCS + "/repos/webhooks#delete-a-repository-webhook")
        with self.lock:
            self.hooks.pop(hook["id"], None)
        return Reply(204)

    # -- issues -------------------------------------------------------------

    def repo_view(self, repo):
        return {"id": repo["id"], "name": repo["name"], "full_name": repo["full_name"],
                "owner": repo["owner"], "private": repo["private"]}

    def issue_view(self, issue):
        return {k: v for k, v in issue.items() if k != "repo"}

    def new_issue(self, repo, spec, host):
        """Makes an issue of repo from spec (checked); call with the lock."""
        number = 1 + sum(1 for (r, _) in self.issues if r == repo["full_name"])
        ident = self.next_id
        self.next_id += 1
        api = "http://%s/repos/%s" % (host, repo["full_name"])
        stamp = now_iso()
        issue = {
            "id": ident, "number": number, "title": spec["title"],
            "body": spec.get("body"), "state": "open", "user": USER,
            "labels": [{"name": n} for n in spec.get("labels") or []],
            "assignees": [{"login": a} for a in spec.get("assignees") or []],
            "comments": 0, "created_at": stamp, "updated_at": stamp,
            "url": "%s/issues/%d" % (api, number),
            "comments_url": "%s/issues/%d/comments" % (api, number),
            "html_url": "https://github.com/%s/issues/%d" % (repo["full_name"], number),
            "repo": repo["full_name"],
        }
        if spec.get("pull_request"):
            issue["pull_request"] = {"url": "%s/pulls/%d" % (api, number)}
        self.issues[(repo["full_name"], number)] = issue
        return issue

    def check_issue_spec(self, spec, doc):
        title = spec.get("title")
        if title is None:
            return validation_failed(doc, {"resource": "Issue", "field": "title",
                                           "code": "missing_field"})
        if not isinstance(title, (str, int)) or str(title) == "":
            return validation_failed(doc, {"resource": "Issue", "field": "title",
                                           "code": "invalid"})
        for key in ("labels", "assignees"):
            v = spec.get(key)
            if v is not None and (not isinstance(v, list) or
                                  not all(isinstance(x, str) for x in v)):
                return validation_failed(doc, {"resource": "Issue", "field": key,
                                               "code": "invalid"})
        body = spec.get("body")
        if body is not None and not isinstance(body, str):
            return validation_failed(doc, {"resource": "Issue", "field": "body",
                                           "code": "invalid"})
        return None

    def list_issues(self, req, owner, name):
        doc = DOCS + "/issues/issues#list-repository-issues"
        repo = self.repo(owner, name)
        if repo is None:
            return gh_error(404, "Not Found", doc)
        state = req.param("state", "open")
        if state not in ("open", "closed", "all"):
            return validation_failed(doc, {"resource": "Issue", "field": "state",
                                           "code": "invalid"})
        labels = [x for x in req.param("labels", "").split(",") if x]
        with self.lock:
            issues = [self.issue_view(i) for (r, _), i in self.issues.items()
                      if r == repo["full_name"]]
        issues = [i for i in issues if state == "all" or i["state"] == state]
        issues = [i for i in issues
                  if all(any(l["name"] == x for l in i["labels"]) for x in labels)]
        issues.sort(key=lambda i: i["number"], reverse=True)  # newest first
        return self.paginate(req, issues, doc)

    def create_issue(self, req, owner, name):
        doc = DOCS + "/issues/issues#create-an-issue"
        repo = self.repo(owner, name)
        if repo is None:
            return gh_error(404, "Not Found", doc)
        spec, bad = self.body_object(req)
        if bad:
            return bad
        bad = self.check_issue_spec(spec, doc)
        if bad:
            return bad
        spec = dict(spec, title=str(spec["title"]), pull_request=False)
        with self.lock:
            issue = self.new_issue(repo, spec, req.headers.get("host", "127.0.0.1"))
            view = self.issue_view(issue)
        return Reply(201, view, {"Location": view["url"]})

    def find_issue(self, owner, name, number):
        repo = self.repo(owner, name)
        if repo is None:
            return None
        try:
            n = int(number)
        except ValueError:
            return None
        with self.lock:
            return self.issues.get((repo["full_name"], n))

    def list_comments(self, req, owner, name, number):
        doc = DOCS + "/issues/comments#list-issue-comments"
        issue = self.find_issue(owner, name, number)
        if issue is None:
            return gh_error(404, "Not Found", doc)
        with self.lock:
            comments = [{k: v for k, v in c.items() if k not in ("repo", "issue_number")}
                        for c in self.comments
                        if c["repo"] == issue["repo"] and c["issue_number"] == issue["number"]]
        return self.paginate(req, comments, doc)

    def create_comment(self, req, owner, name, number):
        doc = DOCS + "/issues/comments#create-an-issue-comment"
        issue = self.find_issue(owner, name, number)
        if issue is None:
            return gh_error(404, "Not Found", doc)
        spec, bad = self.body_object(req)
        if bad:
            return bad
        body = spec.get("body")
        if body is None:
            return validation_failed(doc, {"resource": "IssueComment", "field": "body",
                                           "code": "missing_field"})
        if not isinstance(body, str) or not body:
            return validation_failed(doc, {"resource": "IssueComment", "field": "body",
                                           "code": "invalid"})
        with self.lock:
            ident = self.next_id
            self.next_id += 1
            api = "http://%s/repos/%s" % (req.headers.get("host", "127.0.0.1"),
                                          issue["repo"])
            stamp = now_iso()
            comment = {
                "id": ident, "body": body, "user": USER,
                "created_at": stamp, "updated_at": stamp,
                "url": "%s/issues/comments/%d" % (api, ident),
                "issue_url": issue["url"],
                "html_url": "%s#issuecomment-%d" % (issue["html_url"], ident),
                "author_association": "OWNER",
                "repo": issue["repo"], "issue_number": issue["number"],
            }
            self.comments.append(comment)
            issue["comments"] += 1
            view = {k: v for k, v in comment.items() if k not in ("repo", "issue_number")}
        return Reply(201, view, {"Location": view["url"]})

    # -- deliveries ---------------------------------------------------------

    def deliver(self, hook, event, payload):
        """POST one event to a hook as GitHub does; the delivery record."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"User-Agent": "GitHub-Hookshot/standin",
                   "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
                   "X-GitHub-Hook-ID": str(hook["id"]),
                   "X-GitHub-Hook-Installation-Target-Type": "repository"}
        if hook["config"]["content_type"] == "form":
            body = urllib.parse.urlencode({"payload": body.decode()}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            headers["Content-Type"] = "application/json"
        if hook.get("secret"):
            headers["X-Hub-Signature-256"] = sign(hook["secret"], body)
        result = {"hook_id": hook["id"], "event": event, "url": hook["config"]["url"],
                  "delivery": headers["X-GitHub-Delivery"], "status": None,
                  "error": None, "body": None}
        request = urllib.request.Request(hook["config"]["url"], data=body,
                                         method="POST", headers=headers)
        try:
            with OPENER.open(request, timeout=30) as response:
                result["status"] = response.status
                result["body"] = response.read(4096).decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            result["status"] = e.code
            result["body"] = e.read(4096).decode("utf-8", "replace")
        except Exception as e:
            result["error"] = "%s: %s" % (type(e).__name__, e)
        with self.lock:
            self.deliveries.append(result)
        return result

    # -- admin --------------------------------------------------------------

    def admin_hooks(self, req):
        with self.lock:
            return Reply(200, {"hooks": [dict(h) for h in self.hooks.values()]})

    def admin_issues(self, req):
        with self.lock:
            return Reply(200, {"issues": [dict(i) for i in self.issues.values()]})

    def admin_comments(self, req):
        with self.lock:
            return Reply(200, {"comments": [dict(c) for c in self.comments]})

    def admin_deliveries(self, req):
        with self.lock:
            return Reply(200, {"deliveries": [dict(d) for d in self.deliveries]})

    def admin_link_base(self, req):
        spec, bad = self.body_object(req)
        if bad:
            return bad
        with self.lock:
            self.link_base = spec.get("url")
        return Reply(200, {"link_base": spec.get("url")})

    def admin_ratelimit(self, req):
        spec, bad = self.body_object(req)
        if bad:
            return bad
        if not isinstance(spec.get("remaining"), int):
            return gh_error(400, "remaining must be an integer")
        with self.lock:
            self.remaining = spec["remaining"]
        return Reply(200, {"remaining": self.remaining})

    def admin_create_issues(self, req):
        spec, bad = self.body_object(req)
        if bad:
            return bad
        full = spec.get("repo")
        items = spec.get("issues")
        repo = self.repo(*full.split("/", 1)) if isinstance(full, str) and \
            "/" in full else None
        if repo is None:
            return gh_error(404, "Not Found")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return gh_error(400, "issues must be a list of objects")
        for item in items:
            bad = self.check_issue_spec(item, DOCS)
            if bad:
                return bad
        host = req.headers.get("host", "127.0.0.1")
        with self.lock:
            created = [self.new_issue(repo, dict(i, title=str(i["title"])), host)
                       for i in items]
            views = [self.issue_view(i) for i in created]
            hooks = [dict(h) for h in self.hooks.values()
                     if h["repo"] == repo["full_name"] and h["active"] and
                     ("issues" in h["events"] or "*" in h["events"])]
        deliveries = []
        if spec.get("deliver", True):
            # The lock is not held here: the receiver may call back into us.
            for view in views:
                payload = {"action": "opened", "issue": view,
                           "repository": self.repo_view(repo), "sender": USER}
                deliveries += [self.deliver(h, "issues", payload) for h in hooks]
        return Reply(201, {"issues": views, "deliveries": deliveries})


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


if __name__ == "__main__":
    sys.exit(main(GitHub))
