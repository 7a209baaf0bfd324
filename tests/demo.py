#!/usr/bin/python3
"""The Progix to Slack story, end to end, against the local stand-ins.

Starts the fake Progix and the fake Slack on ephemeral ports, validates and
graphs the example, deploys it twice (the webhook is registered once), has
Progix create two accounts, runs the account flow with the webhook Progix
sent, shows the Slack messages, and stops everything.

usage: tests/demo.py FLOWRUN
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "standins"))
from harness import start  # noqa: E402

SECRETS = {
    "PROGIX_API_KEY": "pk_demo_4f1c9e",
    "PROGIX_WEBHOOK_SECRET": "whsec_demo_77a2",
    "SLACK_TOKEN": "xoxb-demo-1234",
}


def step(text):
    print("\n== " + text, flush=True)


def flowrun(binary, *args, env=None, check=True):
    print("$ flowrun " + " ".join(args), flush=True)
    r = subprocess.run([binary, *args], cwd=ROOT, env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    print(r.stdout, end="", flush=True)
    if check and r.returncode != 0:
        raise SystemExit("demo: flowrun %s exited %d" % (args[0], r.returncode))
    return r


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                             else os.path.join(ROOT, "build/src/flowrun"))
    env = dict(os.environ, **SECRETS)
    with tempfile.TemporaryDirectory() as tmp, \
            start("progix", "--api-key", SECRETS["PROGIX_API_KEY"],
                  "--webhook-secret", SECRETS["PROGIX_WEBHOOK_SECRET"]) as progix, \
            start("slack", "--token", SECRETS["SLACK_TOKEN"]) as slack:
        sets = ["--set", "progix_url=" + progix.url,
                "--set", "slack_url=" + slack.url]
        step("stand-ins: Progix at %s, Slack at %s" % (progix.url, slack.url))

        step("validate the example")
        flowrun(binary, "validate", env=env)
        step("graph the account flow (mermaid)")
        flowrun(binary, "graph", "--flow", "account", "--format", "mermaid", env=env)

        step("deploy: the webhook is registered at Progix")
        flowrun(binary, "run", "--flow", "deploy", *sets, env=env)
        step("deploy again: nothing to do")
        flowrun(binary, "run", "--flow", "deploy", *sets, env=env)
        hooks = progix.get("/_admin/webhooks")["webhooks"]
        print("Progix webhooks: %s" % json.dumps(hooks))
        assert len(hooks) == 1, "expected one webhook"

        step("Progix creates two accounts and sends its webhook")
        created = progix.post("/_admin/accounts", {"deliver": False, "accounts": [
            {"name": "Acme", "contact": "Ann Lee", "email": "ann@acme.test"},
            {"name": "Bolt", "contact": "Bob Ray", "email": "bob@bolt.test"},
        ]})
        body = {"event": "account.created",
                "accounts": [{"id": a["id"]} for a in created["accounts"]]}
        path = os.path.join(tmp, "webhook.json")
        with open(path, "w") as f:
            json.dump(body, f)
        step("the account flow turns them into Slack messages")
        flowrun(binary, "run", "--flow", "account", "--input", "@" + path,
                *sets, env=env)

        messages = slack.get("/_admin/messages")["messages"]
        step("Slack received %d messages" % len(messages))
        for m in messages:
            print("  %s  %s" % (m["channel"], m["text"]))
        assert len(messages) == 2, "expected two Slack messages"
    step("done: stand-ins stopped")


if __name__ == "__main__":
    main()
