"""The README's "Write your first flow" runs as written: its shell blocks,
in order, in one bash -e script in an empty directory, with flowrun on the
PATH and a stand-in of Slack as the chat API (CHAT_URL, and the token the
README exports).  The one change: serve's port 8080 becomes a free one."""

import os
import re
import socket
import subprocess

import harness
from helpers import ROOT

TOKEN = "xoxb-your-token"   # what the README exports


def section_blocks():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("## Write your first flow\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", text[start:end], re.S)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_walk_through_runs_as_written(flowrun_bin, base_env, tmp_path):
    blocks = section_blocks()
    script = "".join(blocks)
    # what the walk-through promises to show, each command in it
    for cmd in ("flowrun validate", "--dry-run", "flowrun test",
                "flowrun serve", "flowrun runs"):
        assert cmd in script, cmd
    port = free_port()
    assert "127.0.0.1:8080" in script
    script = script.replace("127.0.0.1:8080", "127.0.0.1:%d" % port)
    # the test's own: no process outlives the script, whatever fails
    script = "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + script
    slack = harness.start("slack", "--token", TOKEN, "--channels", "#general")
    try:
        env = dict(base_env)
        env["PATH"] = os.path.dirname(flowrun_bin) + os.pathsep + env["PATH"]
        env["CHAT_URL"] = slack.url
        env.pop("FLOWRUN_STORE")        # the project's own .flowrun/
        p = subprocess.run(["bash", "-e", "-c", script], cwd=str(tmp_path),
                           env=env, capture_output=True, text=True, timeout=120)
        out = p.stdout
        assert p.returncode == 0, out + p.stderr
        assert "2 files valid" in out, out
        # the dry-run's request, its token hidden
        assert "would send: POST %s/api/chat.postMessage" % slack.url in out
        assert "Authorization: ***" in out and TOKEN not in out + p.stderr
        assert "1 passed, 0 failed" in out, out
        # serve ran the flow: the message was posted, curl got the answer
        msgs = slack.get("/_admin/messages")["messages"]
        assert [(m["channel"], m["text"]) for m in msgs] == \
            [("general", "Welcome, Ada!")] or \
            [(m["channel"], m["text"]) for m in msgs] == \
            [("#general", "Welcome, Ada!")], msgs
        assert '"ok": true' in out or '"ok":true' in out, out
        assert re.search(r"^ex_\w+ .* ok +hello/welcome", out, re.M), out
        assert os.path.exists(tmp_path / "hello" / ".flowrun" / "flowrun.db")
    finally:
        slack.stop()
