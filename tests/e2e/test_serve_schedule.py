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


def next_minute(t):
    return (int(t) // 60 + 1) * 60


def test_every_minute_fires_at_the_next_minute(ticker):
    assert ticker.running(), ticker.log()
    # the first minute boundary after serve started (it started between
    # started_at and ready_at)
    boundaries = {next_minute(ticker.started_at), next_minute(ticker.ready_at)}
    # it fires within 65 s of the start: the next minute boundary and a margin
    left = ticker.ready_at + 65 - time.time()
    got = wait_for(lambda: ticks(ticker), max(left, 1),
                   "the schedule to fire (serve ready at %.1f, next minute %s); "
                   "log:\n%s" % (ticker.ready_at, sorted(boundaries), ticker.log()),
                   interval=0.25)
    first = got[-1]  # newest first
    assert first["status"] == "ok", first
    assert first["trigger"] == "schedule", first
    # at the boundary (the timer ticks every 100 ms), not before
    at = [b for b in boundaries if b - 0.5 <= first["started_at"] < b + 3]
    assert at, "fired at %.2f, not at the next minute %s" % (
        first["started_at"], sorted(boundaries))
    boundary = at[0]
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
