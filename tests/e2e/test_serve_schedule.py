"""`flowrun serve` fires `schedule` flows: "* * * * *" runs at the next
minute boundary.  The serve (the session fixture `ticker`) started with the
first serve test, so most of the wait has passed by the time this runs."""

import datetime
import json
import subprocess
import time

from serving import wait_for


def ticks(ticker):
    p = subprocess.run([ticker.binary, "runs", "--flow", "tick", "--json"],
                       cwd=ticker.cwd, env=ticker.env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=15)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_every_minute_fires_at_the_next_minute(ticker):
    assert ticker.running(), ticker.log()
    started = ticker.started_at
    boundary = (int(started) // 60 + 1) * 60      # the first minute after start
    # it fires within 65 s of the start: the next minute boundary and a margin
    left = started + 65 - time.time()
    got = wait_for(lambda: ticks(ticker), max(left, 1),
                   "the schedule to fire (started %.1f, next minute %d); log:\n%s"
                   % (started, boundary, ticker.log()), interval=0.25)
    first = got[-1]  # newest first
    assert first["status"] == "ok", first
    assert first["trigger"] == "schedule", first
    # at the boundary (the timer ticks every 100 ms), not before
    assert boundary - 0.5 <= first["started_at"] < boundary + 3, (first, boundary)
    ex = json.loads(subprocess.run(
        [ticker.binary, "show", first["id"], "--json"], cwd=ticker.cwd,
        env=ticker.env, stdout=subprocess.PIPE, text=True, timeout=15).stdout)
    fired = ex["trace"]["output"]
    assert fired["schedule"] == "* * * * *", fired
    want = datetime.datetime.fromtimestamp(boundary, datetime.timezone.utc)
    assert fired["fired_at"] in (want.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 (want + datetime.timedelta(seconds=1))
                                 .strftime("%Y-%m-%dT%H:%M:%SZ")), fired
    # once a minute, no more
    minutes = int((time.time() - boundary) // 60) + 1
    assert len(ticks(ticker)) <= minutes, ticks(ticker)
