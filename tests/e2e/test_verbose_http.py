"""`run -v` shows each HTTP request as sent and each answer as received
(secrets redacted, with the time); `-vv` adds the bodies, cut at 4096
bytes."""

import json
import re

from helpers import (SECRETS, account_input, add_accounts, example_args)


def run_account(run, progix, slack, *flags):
    ids = add_accounts(progix, {"name": "Acme", "plan": "pro"})
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), *flags)
    assert r.rc == 0, r
    return r, ids


def assert_no_secret(text):
    for s in SECRETS:
        assert s not in text, "secret %r in:\n%s" % (s, text)


def test_v_shows_requests_and_answers_without_secrets(run, progix, slack):
    r, ids = run_account(run, progix, slack, "-v")
    err = r.stderr
    assert_no_secret(err + r.stdout)
    # the request line and headers as libcurl sent them
    assert re.search(r"^\* GET http://127\.0\.0\.1:%d/accounts\?ids=%s$"
                     % (progix.port, re.escape(ids[0])), err, re.M), err
    assert re.search(r"^> GET /accounts\?ids=%s HTTP/1\.1$" % re.escape(ids[0]),
                     err, re.M), err
    assert re.search(r"^> Host: 127\.0\.0\.1:%d$" % progix.port, err, re.M), err
    assert re.search(r"^> Authorization: \*\*\*$", err, re.M), err
    assert re.search(r"^>$", err, re.M) and re.search(r"^<$", err, re.M), err
    assert re.search(r"^> User-Agent: flowrun/", err, re.M), err
    # each answer: the status line, headers, the status and the time
    assert re.search(r"^< HTTP/1\.[01] 200", err, re.M), err
    assert re.search(r"^< (?i:content-type): application/json", err, re.M), err
    assert re.search(r"^\* 200 in \d+\.\d ms$", err, re.M), err
    assert re.search(r"^> POST /api/chat\.postMessage HTTP/1\.1$", err, re.M), err
    # no bodies at one -v
    assert '"Acme"' not in err and "> {" not in err and "< {" not in err, err


def test_vv_adds_bodies(run, progix, slack):
    r, ids = run_account(run, progix, slack, "-vv")
    err = r.stderr
    assert_no_secret(err + r.stdout)
    assert re.search(r'^< \{.*"Acme"', err, re.M), err      # an answer's body
    assert re.search(r'^> \{.*"channel"', err, re.M), err    # a request's body


def test_vv_cuts_long_bodies(run, progix, slack):
    big = "x" * 10000
    ids = add_accounts(progix, {"name": big, "plan": "pro"})
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids), "-vv")
    err = r.stderr
    assert re.search(r"^< \[\.\.\. \d+ bytes in all\]$", err, re.M), err[-3000:]
    assert big not in err


def test_v_as_json_log_lines(run, progix, slack):
    r, ids = run_account(run, progix, slack, "-v", "--log-format", "json")
    lines = [json.loads(l) for l in r.stderr.splitlines() if l.strip()]
    sent = [x for x in lines if x["msg"].startswith("* GET ")]
    assert sent and all(x["level"] == "debug" for x in sent), lines
    assert any(x["msg"].startswith("< HTTP/1.") for x in lines), lines
    assert_no_secret(r.stderr)


def test_a_failed_connection_is_shown(run, progix):
    # nothing listens on the slack URL: the error and its time
    ids = add_accounts(progix, {"name": "Acme", "plan": "pro"})
    r = run("run", *example_args(progix), "--set", "slack_url=http://127.0.0.1:9",
            "--flow", "account", "--input", account_input(*ids), "-v")
    assert r.rc == 1, r
    assert re.search(r"^\* .*refused.* after \d+\.\d ms$", r.stderr, re.M), r.stderr
