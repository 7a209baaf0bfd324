"""`flowrun serve` verifies webhook signatures: every scheme with valid,
tampered, unsigned, wrong-secret and (where a timestamp is signed) stale
requests.  The expected signatures are computed here from each scheme's
published definition, not from flowrun's code.  One serve for the module
(tests/e2e/flows/verify.yaml, secrets from config defaults and --set)."""

import base64
import json
import os
import re
import subprocess
import time

import pytest

from serving import Serve, hmac_b64, hmac_hex, make_env, wait_for

VERIFY_FLOWS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "flows", "verify.yaml")

# the defaults in flows/verify.yaml; the token comes from --set
HMAC = "e2e-hmac-S3cret"
GITHUB = "e2e-github-S3cret"
STRIPE = "whsec_e2eStripeS3cret"
SLACK = "e2e-slack-S3cret"
STANDARD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "tok-e2e-S3cret-6c1f0b2a"
OLD, NEW = "e2e-old-S3cret", "e2e-new-S3cret"
SECRETS = (HMAC, GITHUB, STRIPE, SLACK, STANDARD, TOKEN, OLD, NEW)

REFUSED = {"error": "verification failed"}


@pytest.fixture(scope="module")
def vsrv(flowrun_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    env = make_env(root / "store.db")
    s = Serve(flowrun_bin, [VERIFY_FLOWS, "--set", "token_secret=" + TOKEN],
              env, str(root), str(root / "logs"), name="verify").start()
    yield s
    s.kill()


def cli(srv, *args):
    p = subprocess.run([srv.binary] + list(args), cwd=srv.cwd, env=srv.env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=15)
    return p


def show(srv, ident):
    """The execution once it has ended (show lists queued and running
    ones too), else None."""
    p = cli(srv, "show", ident, "--json")
    ex = json.loads(p.stdout) if p.returncode == 0 else None
    return ex if ex and ex["status"] in ("ok", "failed") else None


# -- the schemes, as published ---------------------------------------------------

def sign_hmac(body, secret, ts):
    # a header holding HMAC-SHA256(secret, raw body), here "sha256=" + hex
    return {"X-Signature": "sha256=" + hmac_hex(secret, body)}


def sign_hmac_base64(body, secret, ts):
    return {"X-Signature-B64": hmac_b64(secret, body)}


def sign_github(body, secret, ts):
    # docs.github.com: X-Hub-Signature-256: sha256=HEX(HMAC-SHA256(secret, payload))
    return {"X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body)}


def sign_stripe(body, secret, ts):
    # stripe.com/docs/webhooks: t=TS,v1=HEX(HMAC-SHA256(secret, "TS.payload"))
    return {"Stripe-Signature": "t=%d,v1=%s" % (
        ts, hmac_hex(secret, b"%d." % ts + body))}


def sign_slack(body, secret, ts):
    # api.slack.com/authentication/verifying-requests-from-slack:
    # v0=HEX(HMAC-SHA256(signing secret, "v0:TS:body"))
    return {"X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": "v0=" + hmac_hex(secret, b"v0:%d:" % ts + body)}


def sign_standard(body, secret, ts, msg_id="msg_2e2E2e2E"):
    # standardwebhooks.com: key = base64decode(secret without "whsec_"),
    # signature "v1," + base64(HMAC-SHA256(key, "ID.TS.body"))
    key = base64.b64decode(secret[len("whsec_"):])
    sig = hmac_b64(key, b"%s.%d." % (msg_id.encode(), ts) + body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": "v1," + sig}


def sign_token(body, secret, ts):
    return {"X-Api-Token": secret}


SCHEMES = {
    # flow: (signer, secret, another secret, signature headers, timestamped)
    "hmac": (sign_hmac, HMAC, "e2e-wrong-S3cret", ["X-Signature"], False),
    "hmac_base64": (sign_hmac_base64, HMAC, "e2e-wrong-S3cret",
                    ["X-Signature-B64"], False),
    "github": (sign_github, GITHUB, "e2e-wrong-S3cret", ["X-Hub-Signature-256"],
               False),
    "stripe": (sign_stripe, STRIPE, "whsec_e2eWrongS3cret", ["Stripe-Signature"],
               True),
    "slack": (sign_slack, SLACK, "e2e-wrong-S3cret", ["X-Slack-Signature"], True),
    "standard": (sign_standard, STANDARD,
                 "whsec_" + base64.b64encode(b"another key, 24 bytes!!!").decode(),
                 ["webhook-signature"], True),
    "token": (sign_token, TOKEN, "tok-e2e-wrong-0000", ["X-Api-Token"], False),
}

BODY = b'{"event":"payment.succeeded","amount":100,"id":"evt_1"}'
TAMPERED = b'{"event":"payment.succeeded","amount":900,"id":"evt_1"}'


def post(srv, flow, body, headers):
    h = {"Content-Type": "application/json"}
    h.update(headers)
    return srv.post("/hooks/e2e-verify/" + flow, body, h)


def assert_refused(srv, r, flow, mark, reason=None):
    assert r.status == 401, r
    assert r.json() == REFUSED, "a 401 says only that verification failed: %r" % r
    for s in SECRETS:
        assert s.encode() not in r.body
    log = srv.log()[mark:]
    m = re.search(r"e2e-verify/default/%s: POST /hooks/e2e-verify/%s refused: (.*)"
                  % (flow, flow), log)
    assert m, "no log line saying why:\n%s" % log
    if reason:
        assert reason in m.group(1), m.group(0)


def accepted(srv, r):
    assert r.status == 202, r
    ident = r.json()["execution"]
    return ident


CASES = [(flow, case) for flow in SCHEMES
         for case in ("valid", "tampered", "unsigned", "wrong-secret", "stale",
                      "future")
         if SCHEMES[flow][4] or case not in ("stale", "future")]


@pytest.mark.parametrize("flow,case", CASES)
def test_scheme(vsrv, flow, case):
    sign, secret, other, sig_headers, timestamped = SCHEMES[flow]
    now = int(time.time())
    mark = len(vsrv.log())
    if case == "valid":
        ident = accepted(vsrv, post(vsrv, flow, BODY, sign(BODY, secret, now)))
        ex = wait_for(lambda: show(vsrv, ident), 10, "execution " + ident)
        assert ex["status"] == "ok", ex
        out = ex["trace"]["output"]
        assert (out["body"] if flow == "token" else out) == json.loads(BODY)
        return
    if case == "tampered":
        if flow == "token":
            r = post(vsrv, flow, BODY, {"X-Api-Token": TOKEN[:-1] + "X"})
        else:
            r = post(vsrv, flow, TAMPERED, sign(BODY, secret, now))
        reason = None
    elif case == "unsigned":
        headers = sign(BODY, secret, now)
        for h in sig_headers:
            del headers[h]
        r = post(vsrv, flow, BODY, headers)
        reason = None
    elif case == "wrong-secret":
        r = post(vsrv, flow, BODY, sign(BODY, other, now))
        reason = "mismatch"
    elif case == "stale":
        r = post(vsrv, flow, BODY, sign(BODY, secret, now - 600))
        reason = "stale"
    else:  # signed ten minutes in the future
        r = post(vsrv, flow, BODY, sign(BODY, secret, now + 600))
        reason = "stale"
    assert_refused(vsrv, r, flow, mark, reason)


# -- details of the schemes ------------------------------------------------------------

def test_tolerance_default_5_minutes_and_configured(vsrv):
    now = int(time.time())
    accepted(vsrv, post(vsrv, "stripe", BODY, sign_stripe(BODY, STRIPE, now - 200)))
    mark = len(vsrv.log())
    assert_refused(vsrv, post(vsrv, "stripe", BODY,
                              sign_stripe(BODY, STRIPE, now - 320)),
                   "stripe", mark, "stale")
    # tolerance: 10s
    accepted(vsrv, post(vsrv, "stripe_10s", BODY, sign_stripe(BODY, STRIPE, now - 3)))
    mark = len(vsrv.log())
    assert_refused(vsrv, post(vsrv, "stripe_10s", BODY,
                              sign_stripe(BODY, STRIPE, now - 30)),
                   "stripe_10s", mark, "stale")


def test_stripe_several_v1_signatures(vsrv):
    ts = int(time.time())
    good = hmac_hex(STRIPE, b"%d." % ts + BODY)
    bad = hmac_hex("whsec_other", b"%d." % ts + BODY)
    accepted(vsrv, post(vsrv, "stripe", BODY, {
        "Stripe-Signature": "t=%d,v1=%s,v1=%s,v0=%s" % (ts, bad, good, bad)}))
    mark = len(vsrv.log())
    # a v0 (test-mode) signature alone is not enough
    assert_refused(vsrv, post(vsrv, "stripe", BODY, {
        "Stripe-Signature": "t=%d,v0=%s" % (ts, good)}), "stripe", mark)


def test_standard_webhooks_several_signatures(vsrv):
    ts = int(time.time())
    good = sign_standard(BODY, STANDARD, ts)
    other = sign_standard(BODY, SCHEMES["standard"][2], ts)
    headers = dict(good)
    headers["webhook-signature"] = "%s %s" % (other["webhook-signature"],
                                              good["webhook-signature"])
    accepted(vsrv, post(vsrv, "standard", BODY, headers))
    # the id is signed too
    mark = len(vsrv.log())
    headers = dict(good)
    headers["webhook-id"] = "msg_other"
    assert_refused(vsrv, post(vsrv, "standard", BODY, headers), "standard", mark)


def test_slack_timestamp_is_signed(vsrv):
    ts = int(time.time())
    headers = sign_slack(BODY, SLACK, ts)
    headers["X-Slack-Request-Timestamp"] = str(ts - 1)
    mark = len(vsrv.log())
    assert_refused(vsrv, post(vsrv, "slack", BODY, headers), "slack", mark)


def test_rotated_secrets_both_accepted(vsrv):
    for secret in (OLD, NEW):
        accepted(vsrv, post(vsrv, "rotated", BODY, sign_hmac(BODY, secret, 0)))
    mark = len(vsrv.log())
    assert_refused(vsrv, post(vsrv, "rotated", BODY, sign_hmac(BODY, HMAC, 0)),
                   "rotated", mark, "mismatch")


def test_token_is_neither_stored_nor_logged(vsrv):
    ident = accepted(vsrv, post(vsrv, "token", BODY, {"X-Api-Token": TOKEN,
                                                      "X-Other": "kept"}))
    ex = wait_for(lambda: show(vsrv, ident), 10, "execution " + ident)
    headers = ex["input"]["headers"]
    assert headers.get("x-other") == "kept", headers
    assert "x-api-token" not in headers, headers
    assert TOKEN not in json.dumps(ex)
    assert TOKEN not in cli(vsrv, "show", ident).stdout


def test_no_secret_in_the_log(vsrv):
    log = vsrv.log()
    assert "refused" in log  # the tests above ran against this serve
    for s in SECRETS:
        assert s not in log, "secret %r in the serve log" % s
