"""Constants and helpers shared by the end-to-end tests."""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

EXAMPLE = os.path.join(ROOT, "flows", "progix-to-slack.yaml")
CONNECTORS = os.path.join(ROOT, "connectors")
FLOWS = os.path.join(HERE, "flows")

# Distinctive secret values: none of them may ever show up in any output.
API_KEY = "pk-e2e-S3cret-7f3a9c1d"
WEBHOOK_SECRET = "whsec-e2e-S3cret-90bc14aa"
SLACK_TOKEN = "xoxb-e2e-S3cret-51d2e8f0"
SECRETS = (API_KEY, WEBHOOK_SECRET, SLACK_TOKEN)

PUBLIC_URL = "http://hooks.e2e.test:9999"
OUR_HOOK = PUBLIC_URL + "/hooks/progix-to-slack/account"


def flow_file(name):
    """tests/e2e/flows/NAME.yaml"""
    return os.path.join(FLOWS, name + ".yaml")


def requests_of(standin):
    return standin.get("/_admin/requests")["requests"]


def messages_of(slack):
    return slack.get("/_admin/messages")["messages"]


def add_accounts(progix, *accounts):
    """Creates accounts (no webhook delivery); their ids."""
    got = progix.post("/_admin/accounts",
                      {"accounts": list(accounts), "deliver": False})
    return [a["id"] for a in got["accounts"]]


def register_webhook(progix, url, events=("account.created",)):
    r = progix.request("POST", "/webhooks", {"url": url, "events": list(events)},
                       headers={"Authorization": "Bearer " + API_KEY})
    assert r.status == 201, r
    return r.json()


def example_args(progix=None, slack=None, *more):
    """The example flow file with the stand-ins' URLs set."""
    args = [EXAMPLE]
    if progix is not None:
        args += ["--set", "progix_url=" + progix.url]
    if slack is not None:
        args += ["--set", "slack_url=" + slack.url]
    return args + list(more)


def account_input(*ids):
    return json.dumps({"event": "account.created",
                       "accounts": [{"id": i} for i in ids]})


def find_steps(steps, pred):
    """Every step record (depth first, through branches and loops) for
    which pred(record) is true."""
    found = []
    for s in steps or []:
        if pred(s):
            found.append(s)
        found += find_steps(s.get("steps"), pred)
        for it in s.get("iterations") or []:
            found += find_steps(it.get("steps"), pred)
    return found


def step(trace, ident):
    """The one step record with that id."""
    got = find_steps(trace["steps"], lambda s: s.get("id") == ident)
    assert len(got) == 1, "want one step %r, found %d in %s" % (
        ident, len(got), json.dumps(trace, indent=1)[:3000])
    return got[0]
