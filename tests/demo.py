#!/usr/bin/python3
"""The Progix to Slack story, end to end, against the local stand-ins.

Starts the fake Progix and the fake Slack on ephemeral ports and
`flowrun serve` on another, on the default SQLite store (in a fresh working
directory), deploys the example twice (the webhook is registered once), has
Progix create two accounts and send its signed webhook, waits for the two
Slack messages, shows what the store recorded, and stops everything.

usage: tests/demo.py [FLOWRUN]
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "standins"))
from harness import start  # noqa: E402

SECRETS = {
    "PROGIX_API_KEY": "pk_demo_4f1c9e",
    "PROGIX_WEBHOOK_SECRET": "whsec_demo_77a2",
    "SLACK_TOKEN": "xoxb-demo-1234",
    # flows/ holds other integrations too: serving them needs their webhook
    # secrets; without a repository configured they register nothing
    "GITHUB_WEBHOOK_SECRET": "ghwh_demo_5b0e",
}


def step(text):
    print("\n== " + text, flush=True)


class Demo:
    def __init__(self, binary, cwd, env):
        self.binary, self.cwd, self.env = binary, cwd, env

    def flowrun(self, *args):
        print("$ flowrun " + " ".join(args), flush=True)
        r = subprocess.run([self.binary, *args], cwd=self.cwd, env=self.env,
                           text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        print(r.stdout, end="", flush=True)
        if r.returncode != 0:
            raise SystemExit("demo: flowrun %s exited %d" % (args[0], r.returncode))
        return r.stdout

    def serve(self, *args):
        print("$ flowrun serve " + " ".join(args), flush=True)
        log = open(os.path.join(self.cwd, "serve.log"), "w+")
        proc = subprocess.Popen([self.binary, "serve", *args], cwd=self.cwd,
                                env=self.env, stdout=log, stderr=log)
        deadline = time.time() + 15
        while time.time() < deadline:
            log.seek(0)
            m = re.search(r"serving on port (\d+)", log.read())
            if m:
                return proc, int(m.group(1)), log
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        log.seek(0)
        raise SystemExit("demo: serve did not start:\n" + log.read())


def wait_for(what, predicate, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit("demo: timed out waiting for " + what)


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                             else os.path.join(ROOT, "build/src/flowrun"))
    flows = os.path.join(ROOT, "flows")
    env = dict(os.environ, **SECRETS)
    env.pop("FLOWRUN_STORE", None)
    with tempfile.TemporaryDirectory() as cwd, \
            start("progix", "--api-key", SECRETS["PROGIX_API_KEY"],
                  "--webhook-secret", SECRETS["PROGIX_WEBHOOK_SECRET"]) as progix, \
            start("slack", "--token", SECRETS["SLACK_TOKEN"]) as slack:
        demo = Demo(binary, cwd, env)
        sets = ["--set", "progix_url=" + progix.url,
                "--set", "slack_url=" + slack.url]
        step("stand-ins: Progix at %s, Slack at %s" % (progix.url, slack.url))
        step("validate and graph the example")
        demo.flowrun("validate", flows)
        demo.flowrun("graph", flows, "--flow", "account", "--format", "mermaid")

        step("serve the webhooks (default store .flowrun/flowrun.db in %s)" % cwd)
        serve, port, log = demo.serve(flows, "--listen", "127.0.0.1:0", *sets)
        public = "http://127.0.0.1:%d" % port
        try:
            step("deploy: the webhook is registered at Progix")
            demo.flowrun("deploy", flows, "--public-url", public, *sets)
            step("deploy again: nothing to do")
            demo.flowrun("deploy", flows, "--public-url", public, *sets)
            hooks = progix.get("/_admin/webhooks")["webhooks"]
            print("Progix webhooks: %s" % json.dumps(hooks))
            assert len(hooks) == 1, "expected one webhook"

            step("Progix creates two accounts and sends its signed webhook")
            created = progix.post("/_admin/accounts", {"accounts": [
                {"name": "Acme", "contact": "Ann Lee", "email": "ann@acme.test"},
                {"name": "Bolt", "contact": "Bob Ray", "email": "bob@bolt.test"},
            ]})
            for d in created["deliveries"]:
                print("  delivered to %s: %s %s" % (d["url"], d["status"], d["body"]))
            assert all(d["status"] == 202 for d in created["deliveries"])

            messages = wait_for("two Slack messages", lambda: (
                lambda m: m if len(m) >= 2 else None)(
                    slack.get("/_admin/messages")["messages"]))
            step("Slack received %d messages" % len(messages))
            for m in messages:
                print("  %s  %s" % (m["channel"], m["text"]))
            assert len(messages) == 2, "expected two Slack messages"

            step("what the store recorded")
            demo.flowrun("runs")
        finally:
            serve.send_signal(signal.SIGTERM)
            rc = serve.wait(timeout=40)
            log.seek(0)
            step("serve's log (exit status %d)" % rc)
            print(log.read(), end="")
    step("done: serve and the stand-ins stopped")


if __name__ == "__main__":
    main()
