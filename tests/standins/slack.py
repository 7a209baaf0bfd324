#!/usr/bin/env python3
"""Stand-in for Slack's Web API method chat.postMessage.

    slack.py --port 0 --token TOKEN [--channels "#newaccount,#general"]
             [--portfile FILE] [--verbose]

    POST /api/chat.postMessage   JSON or form-urlencoded {channel, text, ...}
        Authorization: Bearer TOKEN.  Like Slack, errors are 200 {"ok":false,
        "error": invalid_auth | channel_not_found | no_text | invalid_json ...};
        success is {"ok":true,"channel":C,"ts":"1700000000.00000N","message":{...}}.
        A channel is named with or without its leading "#".
Admin (no auth), besides those of standin.py:
    GET /_admin/messages         {"messages":[{"channel","text","ts"}...]}
"""

import hmac
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin import App, Reply, main  # noqa: E402


def not_ok(code, status=200):
    return Reply(status, {"ok": False, "error": code})


class Slack(App):
    """Fake Slack Web API (chat.postMessage)."""

    name = "slack"
    routes = [("POST", r"/api/chat\.postMessage", "post_message")]
    admin_routes = [("GET", r"/_admin/messages", "admin_messages")]

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--token", required=True)
        parser.add_argument("--channels", default="#newaccount,#general",
                            help="comma-separated channel names")

    def __init__(self, args):
        self.channels = [c.strip() for c in args.channels.split(",") if c.strip()]
        super().__init__(args)

    def reset(self):
        with self.lock:
            super().reset()
            self.messages = []

    def injected_body(self, status):
        return {"ok": False, "error": "ratelimited" if status == 429 else "injected"}

    def not_found(self, req):
        return not_ok("unknown_method", 404)

    def method_not_allowed(self, req):
        return not_ok("invalid_request", 405)

    def channel(self, name):
        """The configured name ("#x") of a channel given as "#x" or "x"."""
        for c in self.channels:
            if name in (c, c.lstrip("#")):
                return c
        return None

    def params(self, req):
        """The call's arguments as a dict, or a Reply when they cannot be read."""
        ctype = req.content_type()
        if ctype == "application/json":
            try:
                args = req.json()
            except ValueError:
                return not_ok("invalid_json")
            return args if isinstance(args, dict) else not_ok("invalid_json")
        if ctype in ("application/x-www-form-urlencoded", ""):
            form = urllib.parse.parse_qs(req.body.decode("utf-8", "replace"),
                                         keep_blank_values=True)
            args = {k: v[-1] for k, v in req.params.items()}
            args.update({k: v[-1] for k, v in form.items()})
            return args
        return not_ok("invalid_form_data")

    def post_message(self, req):
        given = req.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, ("Bearer " + self.args.token).encode()):
            return not_ok("invalid_auth")
        args = self.params(req)
        if isinstance(args, Reply):
            return args
        channel, text = args.get("channel"), args.get("text")
        if not isinstance(channel, str) or not channel:
            return not_ok("channel_not_found")
        if not isinstance(text, str) or not text:
            return not_ok("no_text")
        name = self.channel(channel)
        if name is None:
            return not_ok("channel_not_found")
        with self.lock:
            ts = "1700000000.%06d" % (len(self.messages) + 1)
            self.messages.append({"channel": name, "text": text, "ts": ts})
        message = {"type": "message", "text": text, "ts": ts}
        return Reply(200, {"ok": True, "channel": name, "ts": ts, "message": message})

    def admin_messages(self, req):
        with self.lock:
            return Reply(200, {"messages": [dict(m) for m in self.messages]})


if __name__ == "__main__":
    sys.exit(main(Slack))
