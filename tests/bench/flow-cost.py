#!/usr/bin/env python3
"""flow-cost.py FLOWRUN SINK [N]: what one account flow costs in flowrun serve,
measured as CPU time rather than as a rate, so that it holds better on a
busy machine.

Starts the bench sink (tests/bench/sink.c) and `flowrun serve flows` (the
example; its API calls go to the sink), posts N signed account webhooks
(4 connections), waits until N executions ended, and prints the
CPU time of serve and of its worker processes per flow (accepting
included) and the context switches per flow.  Asserts nothing."""

import hashlib
import hmac
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SECRET = "whsec_load_3b9d"
BODY = b'{"event":"account.created","accounts":[{"id":"acc_1"},{"id":"acc_2"}]}'


def tree(pid):
    pids = [pid]
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, task)) as f:
            pids += [int(p) for p in f.read().split()]
    return pids


def ticks(pid, reaped=True):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in v[11:15 if reaped else 13])


def cpu(pid):
    """(serve's CPU ticks, its worker processes' ticks, context switches)"""
    switches = 0
    for p in tree(pid):
        for task in os.listdir("/proc/%d/task" % p):
            with open("/proc/%d/task/%s/status" % (p, task)) as f:
                switches += sum(int(l.split()[1]) for l in f
                                if l.endswith("ctxt_switches\n") or
                                "ctxt_switches:" in l)
    return (ticks(pid, False), ticks(pid) - ticks(pid, False) +
            sum(ticks(c, False) for c in tree(pid)[1:]), switches)


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    return sum(float(m) for m in re.findall(r"^%s(?:\{[^}]*\})? (\S+)$" % name,
                                             text, re.M))


def main():
    flowrun, sink = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    tmp = tempfile.mkdtemp()
    sk = subprocess.Popen([sink, "2"], stdout=subprocess.PIPE, text=True)
    sinkport = int(sk.stdout.readline().split()[1])
    env = dict(os.environ, PROGIX_API_KEY="pk", PROGIX_WEBHOOK_SECRET=SECRET,
               SLACK_TOKEN="xoxb")
    log = open(os.path.join(tmp, "serve.log"), "w+")
    srv = subprocess.Popen(
        [flowrun, "serve", "flows", "--workers", "2", "--listen", "127.0.0.1:0",
         "--store", "sqlite:" + os.path.join(tmp, "s.db"),
         "--set", "progix_url=http://127.0.0.1:%d" % sinkport,
         "--set", "slack_url=http://127.0.0.1:%d" % sinkport],
        cwd=ROOT, env=env, stderr=log)
    port = None
    while port is None:
        time.sleep(0.1)
        log.seek(0)
        m = re.search(r"serving on port (\d+)", log.read())
        port = m and int(m.group(1))
    sig = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json",
               "X-Progix-Signature": "sha256=" + sig}
    # warm: the workers start and compile what runs hot
    def post(count):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(count):
            c.request("POST", "/hooks/progix-to-slack/account", BODY, headers)
            r = c.getresponse()
            r.read()
            assert r.status == 202, r.status
    post(200)
    while metric(port, "flowrun_executions_total") < 200:
        time.sleep(0.1)
    c0 = cpu(srv.pid)
    threads = [threading.Thread(target=post, args=(n // 4,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = 200 + 4 * (n // 4)
    while metric(port, "flowrun_executions_total") < total:
        time.sleep(0.1)
    c1 = cpu(srv.pid)
    hz = os.sysconf("SC_CLK_TCK")
    done = 4 * (n // 4)
    with open("/proc/cpuinfo") as f:
        model = re.search(r"model name\s*: (.*)", f.read()).group(1)
    print("machine: %s, %d cores, load average %s" % (
        model, os.cpu_count(), open("/proc/loadavg").read().split()[0]))
    print("%s: %d account flows" % (flowrun, done))
    own, workers, sw = (b - a for a, b in zip(c0, c1))
    print("CPU per flow: %.0f us (serve %.0f us, worker processes %.0f us); "
          "%.1f context switches per flow" % (
              (own + workers) / hz / done * 1e6, own / hz / done * 1e6,
              workers / hz / done * 1e6, sw / done))
    srv.send_signal(signal.SIGTERM)
    srv.wait(30)
    sk.kill()


main()
