#!/usr/bin/python3
"""Benchmark of `flowrun test` (issue 10): generates N tests (default 1,000)
over the example integration, a mix of its three flows with every mock form
(output, error, http through pagination and the connector's error
expression, `when`, lists in call order), signed webhooks and assertions,
then runs them and prints the wall time with the machine noted.  Asserts
nothing about the time (the target is under 2 s on 2 cores); it fails only
when the generated tests do not all pass.

usage: tests/bench/test-suite.py FLOWRUN [N] [JOBS]
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOOK = "http://127.0.0.1:8080/hooks/progix-to-slack/account"


def account_test(i):
    n = 1 + i % 4
    ids = ", ".join("a%d" % k for k in range(n))
    out = ", ".join("{ id: a%d, name: N%d, contact: C%d, email: e%d@x.test }"
                    % (k, k, k, k) for k in range(n))
    slack = "\n".join("        - http: { status: 200, body: { ok: true, ts: \"%d.%d\" } }"
                      % (i, k) for k in range(n))
    return """\
  - name: account %d (%d accounts)
    flow: progix-to-slack/account
    config: { slack_channel: "#c%d" }
    trigger:
      webhook:
        body: { event: account.created, accounts: [%s] }
        sign: true
    mocks:
      progix.get_accounts:
        - when: '.ids | length == %d'
          output: [%s]
      slack.post_message:
%s
    expect:
      steps:
        messages: { exactly: [%s] }
      calls:
        slack.post_message: { count: %d }
      assert: ['.steps.post | length == %d']
""" % (i, n, i, ", ".join("{ id: a%d }" % k for k in range(n)), n, out, slack,
       ", ".join('{ channel: "#c%d", text: "New account N%d (C%d <e%d@x.test>)" }'
                 % (i, k, k, k) for k in range(n)), n, n)


def slack_fails_test(i):
    return """\
  - name: account %d, Slack refuses
    flow: account
    trigger: { webhook: { body: { accounts: [{ id: a1 }] }, sign: true } }
    mocks:
      progix.get_accounts: { output: [{ id: a1, name: A, contact: B, email: c@d.test }] }
      slack.post_message: { http: { status: 200, body: { ok: false, error: e%d } } }
    expect: { status: failed, error: "slack: e%d" }
""" % (i, i, i)


def deploy_test(i):
    if i % 2:
        return """\
  - name: deploy %d, found on page 2
    flow: deploy
    mocks:
      progix.list_webhooks:
        - http: { body: { data: [{ id: w0, url: "x" }], next_cursor: c } }
        - http: { body: { data: [{ id: w%d, url: "%s" }] } }
    expect:
      steps: { exists: { branch: found } }
      calls: { progix.create_webhook: { count: 0 } }
""" % (i, i, HOOK)
    return """\
  - name: deploy %d, created
    flow: deploy
    state: { n: %d }
    mocks:
      list: { output: [] }
      create: { http: { status: 201, body: { id: wh_%d } } }
    expect:
      state: { n: %d, webhook_id: wh_%d }
""" % (i, i, i, i, i)


def remove_test(i):
    return """\
  - name: remove %d
    flow: remove
    mocks:
      progix.list_webhooks:
        output: [{ id: w0, url: x }, { id: w%d, url: "%s" }]
      progix.delete_webhook: { http: { status: 204 } }
    expect:
      calls: { progix.delete_webhook: { count: 1, input: [{ id: w%d }] } }
""" % (i, i, HOOK, i)


def main():
    flowrun = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    jobs = sys.argv[3:4]
    kinds = [account_test, account_test, account_test, slack_fails_test,
             deploy_test, deploy_test, remove_test]
    tmp = tempfile.mkdtemp()
    try:
        os.mkdir(os.path.join(tmp, "flows"))
        shutil.copy(os.path.join(ROOT, "flows", "progix-to-slack.yaml"),
                    os.path.join(tmp, "flows"))
        shutil.copytree(os.path.join(ROOT, "connectors"),
                        os.path.join(tmp, "connectors"))
        text = "tests:\n" + "".join(kinds[i % len(kinds)](i) for i in range(n))
        path = os.path.join(tmp, "flows", "bench.test.yaml")
        with open(path, "w") as f:
            f.write(text)
        argv = [flowrun, "test", path] + (["--jobs", jobs[0]] if jobs else [])
        best = None
        for _ in range(3):
            t0 = time.monotonic()
            p = subprocess.run(argv, cwd=tmp, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            wall = time.monotonic() - t0
            best = wall if best is None else min(best, wall)
            last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
            if p.returncode != 0 or last != "%d passed, 0 failed" % n:
                sys.stdout.write(p.stdout[-3000:] + p.stderr[-3000:])
                print("flowrun test failed (exit %d)" % p.returncode)
                return 1
        cpu = "?"
        try:
            with open("/proc/cpuinfo") as f:
                m = re.search(r"model name\s*:\s*(.*)", f.read())
                cpu = m.group(1) if m else "?"
        except OSError:
            pass
        print("flowrun test: %d tests (%d KiB of YAML) in %.3f s wall (best of 3), "
              "%s, on %d cores (%s)" % (n, len(text) // 1024, best,
                                        "--jobs " + jobs[0] if jobs else "one job per core",
                                        os.cpu_count(), cpu))
        print("%d passed, 0 failed" % n)
        return 0
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
