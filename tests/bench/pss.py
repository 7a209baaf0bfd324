#!/usr/bin/env python3
"""pss.py PID: samples the sum of Pss (/proc/P/smaps_rollup) over PID and
every process under it, every 50 ms, until SIGTERM or PID ends; then prints
the peak as 'N kB (serve N kB + K worker processes N kB)'."""

import os
import signal
import sys
import time


def children(pid):
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def pss(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    root = int(sys.argv[1])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    peak = (0, 0, 0, 0)
    while not stop and os.path.exists("/proc/%d" % root):
        kids = children(root)
        own = pss(root)
        theirs = sum(pss(k) for k in kids)
        if own + theirs > peak[0]:
            peak = (own + theirs, own, len(kids), theirs)
        time.sleep(0.05)
    print("%d kB (serve %d kB + %d worker processes %d kB)" % peak)


main()
