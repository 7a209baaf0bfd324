"""The Stripe connector (connectors/stripe.yaml) against its stand-in
(tests/standins/stripe.py) through `flowrun run`: starting_after pages, form
bodies with brackets, Idempotency-Key on creates so that a retried request
creates one customer, Stripe's error object as the step error, and the
secret key in no output, trace or store.  Also the example integration
flows/stripe-customers.yaml."""

import json
import os
import secrets
import urllib.parse

import pytest

import harness
from helpers import CONNECTORS, ROOT, find_steps, flow_file, requests_of, step

FLOW = flow_file("stripe")
EXAMPLE = os.path.join(ROOT, "flows", "stripe-customers.yaml")
# made at run time: no key is written in a file
KEY = "sk_test_" + secrets.token_hex(12)
WRONG = "sk_test_" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def stripe_server():
    s = harness.start("stripe", "--api-key", KEY)
    yield s
    s.stop()


@pytest.fixture
def stripe(stripe_server):
    assert stripe_server.running(), stripe_server.log
    stripe_server.post("/_admin/reset")
    return stripe_server


@pytest.fixture
def srun(run, stripe):
    """Runs a flow of tests/e2e/flows/stripe.yaml with .trigger = given;
    every result is kept, to look for the key in all of them at the end."""
    results = []

    def _srun(flow, given=None, key=KEY, *more):
        r = run("run", FLOW, "--connectors", CONNECTORS, "--flow", flow,
                "--input", json.dumps(given or {}), "--json", *more,
                env={"STRIPE_URL": stripe.url, "STRIPE_E2E_KEY": key})
        results.append(r)
        return r

    _srun.results = results
    return _srun


def customers_of(stripe):
    return stripe.get("/_admin/customers")["customers"]


def posts_of(stripe, path="/v1/customers"):
    return [q for q in requests_of(stripe)
            if q["method"] == "POST" and q["path"] == path]


def assert_no_key(*texts):
    for t in texts:
        for k in (KEY, WRONG):
            assert k not in t, "a Stripe key in:\n%s" % t[:3000]


def assert_recorded_without_key(run, results, store_dir):
    """runs --json and show --json of every execution hold no key, nor do
    the store's files (the conftest's store is store.db in the test's
    directory)."""
    files = [p for p in store_dir.glob("store.db*") if p.is_file()]
    assert files, "no store in %s" % store_dir
    for p in files:
        data = p.read_bytes()
        for k in (KEY, WRONG):
            assert k.encode() not in data, "a Stripe key stored in %s" % p
    listed = run("runs", "--json")
    assert listed.rc == 0, listed
    assert_no_key(listed.stdout, listed.stderr)
    for r in results:
        assert_no_key(r.stdout, r.stderr)
        ex = r.json()["execution"]
        for opts in (["--json"], []):
            shown = run("show", ex, *opts)
            assert shown.rc == 0 and ex in shown.stdout, shown
            assert_no_key(shown.stdout, shown.stderr)


# -- pagination ---------------------------------------------------------------

def test_lists_follow_starting_after_across_pages(srun, stripe):
    made = stripe.post("/_admin/customers", {"customers": [
        {"email": "c%02d@e2e.test" % i, "name": "C %d" % i} for i in range(10)]})
    r = srun("customers", {"limit": 3})
    assert r.rc == 0, r
    got = step(r.json(), "customers")["output"]
    # all ten, newest first, each once: four pages of at most three
    assert [c["email"] for c in got] == ["c%02d@e2e.test" % i
                                         for i in reversed(range(10))]
    assert {c["id"] for c in got} == {c["id"] for c in made["customers"]}
    lists = [q for q in requests_of(stripe) if q["path"] == "/v1/customers"]
    queries = [urllib.parse.parse_qs(q["query"]) for q in lists]
    assert len(lists) == 4, lists
    assert all(q["limit"] == ["3"] for q in queries)
    assert "starting_after" not in queries[0]
    # each next page starts after the last object of the one before
    assert [q["starting_after"] for q in queries[1:]] == [
        [got[2]["id"]], [got[5]["id"]], [got[8]["id"]]]
    # a filter travels with every page
    r = srun("customers", {"limit": 1, "email": "c04@e2e.test"})
    assert r.rc == 0, r
    assert [c["email"] for c in step(r.json(), "customers")["output"]] == ["c04@e2e.test"]


def test_rate_limit_is_retried_honouring_retry_after(srun, stripe):
    stripe.post("/_admin/customers", {"customers": [{"email": "a@e2e.test"}]})
    stripe.post("/_admin/fail", {"method": "GET", "path": "/v1/customers",
                                 "status": 429, "count": 1, "retry_after": 1})
    r = srun("customers", {"limit": 10})
    assert r.rc == 0, r
    rec = step(r.json(), "customers")
    assert [h["status"] for h in rec["http"]] == [429, 200], rec
    assert [c["email"] for c in rec["output"]] == ["a@e2e.test"]


# -- creates: form bodies and Idempotency-Key ---------------------------------

def test_create_sends_a_bracket_form_with_an_idempotency_key(srun, stripe):
    r = srun("create", {"email": "ann@acme.test", "name": "Ann Lee",
                        "metadata": {"plan": "pro", "account": "acc 1"}})
    assert r.rc == 0, r
    t = r.json()
    out = step(t, "customer")["output"]
    (made,) = customers_of(stripe)
    assert out["id"] == made["id"] and out["object"] == "customer"
    assert made["email"] == "ann@acme.test" and made["name"] == "Ann Lee"
    assert made["metadata"] == {"plan": "pro", "account": "acc 1"}
    (post,) = posts_of(stripe)
    assert post["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(post["body"]) == {
        "email": ["ann@acme.test"], "name": ["Ann Lee"],
        "metadata[plan]": ["pro"], "metadata[account]": ["acc 1"]}
    # execution, step, loop iterations: stable across retries of the call
    assert post["headers"]["idempotency-key"] == \
        "flowrun:%s:customer:[]" % t["execution"]


def test_each_loop_iteration_has_its_own_key(srun, stripe):
    r = srun("create_each", {"customers": [{"email": "a@e2e.test"},
                                           {"email": "b@e2e.test"}]})
    assert r.rc == 0, r
    ex = r.json()["execution"]
    assert [q["headers"]["idempotency-key"] for q in posts_of(stripe)] == [
        "flowrun:%s:customer:[0]" % ex, "flowrun:%s:customer:[1]" % ex]
    assert sorted(c["email"] for c in customers_of(stripe)) == ["a@e2e.test",
                                                                "b@e2e.test"]


def test_a_lost_answer_retried_creates_one_customer(srun, stripe):
    # the customer is made, then the answer is lost (a 500 on the way):
    # the connector tries again with the same key and Stripe replays it
    stripe.post("/_admin/lose", {"status": 500, "count": 1, "path": "/v1/customers"})
    r = srun("create", {"email": "ann@acme.test"})
    assert r.rc == 0, r
    (made,) = customers_of(stripe)
    rec = step(r.json(), "customer")
    assert [h["status"] for h in rec["http"]] == [500, 200], rec
    assert rec["output"]["id"] == made["id"]
    posts = posts_of(stripe)
    assert len(posts) == 2
    assert posts[0]["headers"]["idempotency-key"] == posts[1]["headers"]["idempotency-key"]
    assert posts[0]["body"] == posts[1]["body"]


def test_a_500_before_the_endpoint_ran_is_retried_once(srun, stripe):
    stripe.post("/_admin/fail", {"method": "POST", "path": "/v1/customers",
                                 "status": 500, "count": 1})
    r = srun("create", {"email": "bob@bolt.test"})
    assert r.rc == 0, r
    assert [c["email"] for c in customers_of(stripe)] == ["bob@bolt.test"]
    assert len(posts_of(stripe)) == 2


def test_a_key_given_again_with_other_parameters_is_refused(srun, stripe):
    r = srun("create", {"email": "ann@acme.test", "idempotency_key": "acct-1"})
    assert r.rc == 0, r
    # the same key and parameters: the first customer, not a second
    again = srun("create", {"email": "ann@acme.test", "idempotency_key": "acct-1"})
    assert again.rc == 0, again
    assert step(again.json(), "customer")["output"]["id"] == \
        step(r.json(), "customer")["output"]["id"]
    other = srun("create", {"email": "eve@else.test", "idempotency_key": "acct-1"})
    assert other.rc == 1, other
    err = step(other.json(), "customer")["error"]
    assert "stripe: 400 idempotency_error: Keys for idempotent requests" in err, err
    assert [c["email"] for c in customers_of(stripe)] == ["ann@acme.test"]


# -- errors ------------------------------------------------------------------

def test_a_bad_key_is_a_step_error_with_stripes_message(run, srun, stripe, tmp_path):
    r = srun("customers", {"limit": 10}, WRONG)
    assert r.rc == 1, r
    err = step(r.json(), "customers")["error"]
    assert "stripe: 401 invalid_request_error: Invalid API Key provided: sk_test_" in err, err
    assert err.startswith("GET %s/v1/customers" % stripe.url), err
    assert "stripe: 401" in r.stderr, r
    # Stripe shows the key masked; flowrun adds nothing of it either
    assert_no_key(r.stdout, r.stderr)
    assert_recorded_without_key(run, srun.results, tmp_path)


def test_unknown_ids_and_parameters_name_stripes_error(run, srun, stripe, tmp_path):
    r = srun("delete_endpoint", {"id": "we_none"})
    assert r.rc == 1, r
    err = step(r.json(), "deleted")["error"]
    assert ("stripe: 404 invalid_request_error: No such webhook_endpoint: "
            "'we_none' (resource_missing)") in err, err
    # the connector sends only the parameters it declares: emial is not one,
    # so Stripe does not refuse it as an unknown parameter
    r = srun("create", {"email": "ann@acme.test", "emial": "typo"})
    assert r.rc == 0, r
    assert "emial" not in posts_of(stripe)[0]["body"]
    stripe.post("/_admin/fail", {"method": "GET", "status": 503, "count": -1,
                                 "body": {"error": {"type": "api_error",
                                                    "message": "down for now"}}})
    r = srun("customers", {"limit": 10})
    assert r.rc == 1, r
    rec = step(r.json(), "customers")
    assert len(rec["http"]) == 4, rec  # retry.attempts
    assert "stripe: 503 api_error: down for now" in rec["error"], rec
    assert_recorded_without_key(run, srun.results, tmp_path)


# -- webhook endpoints ---------------------------------------------------------

def test_webhook_endpoint_created_once_and_deleted(run, srun, stripe, tmp_path):
    for i in range(3):  # someone else's endpoints, over two pages (limit 2)
        r = stripe.request("POST", "/v1/webhook_endpoints", urllib.parse.urlencode(
            {"url": "https://other.test/%d" % i, "enabled_events[0]": "*"}),
            {"Authorization": "Bearer " + KEY,
             "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 200, r
    url = "https://hooks.e2e.test/hooks/stripe"
    r = srun("endpoint", {"url": url})
    assert r.rc == 0, r
    t = r.json()
    assert step(t, "ours")["output"]["branch"] == "else"
    created = step(t, "created")["output"]
    ours = [e for e in stripe.get("/_admin/webhook_endpoints")["webhook_endpoints"]
            if e["url"] == url]
    assert len(ours) == 1
    assert ours[0]["enabled_events"] == ["customer.created", "customer.deleted"]
    assert ours[0]["metadata"] == {"owner": "flowrun"}
    assert created["id"] == ours[0]["id"] and created["object"] == "webhook_endpoint"
    # the signing secret Stripe answered with is kept out of the output
    assert "secret" not in created
    again = srun("endpoint", {"url": url})
    assert again.rc == 0, again
    assert step(again.json(), "ours")["output"]["branch"] == "exists"
    assert len(stripe.get("/_admin/webhook_endpoints")["webhook_endpoints"]) == 4
    gone = srun("delete_endpoint", {"id": created["id"]})
    assert gone.rc == 0, gone
    assert step(gone.json(), "deleted")["output"] == {
        "id": created["id"], "object": "webhook_endpoint", "deleted": True}
    assert url not in [e["url"] for e in
                       stripe.get("/_admin/webhook_endpoints")["webhook_endpoints"]]
    whsec = ours[0]["secret"]
    for res in srun.results:
        assert whsec not in res.stdout + res.stderr
    assert_recorded_without_key(run, srun.results, tmp_path)


def test_dry_run_sends_the_lookup_and_not_the_create(srun, stripe):
    r = srun("create", {"email": "ann@acme.test"}, KEY, "--dry-run")
    assert r.rc == 0, r
    rec = step(r.json(), "customer")
    assert rec["output"]["id"] == "cus_dry_run", rec
    assert rec["request"]["headers"]["Authorization"] == "***"
    assert rec["request"]["body"] == "email=ann%40acme.test"
    assert customers_of(stripe) == [] and posts_of(stripe) == []
    assert_no_key(r.stdout, r.stderr)


# -- the example integration -----------------------------------------------------

def test_example_creates_only_the_missing_customers(run, stripe, tmp_path):
    stripe.post("/_admin/customers", {"customers": [{"email": "ann@acme.test"}]})
    given = {"customers": [{"email": "ann@acme.test", "name": "Ann Lee"},
                           {"email": "bob@bolt.test", "name": "Bob Ray",
                            "account": "acc_2"}]}
    env = {"STRIPE_URL": stripe.url, "STRIPE_API_KEY": KEY}
    results = []
    for _ in range(2):
        r = run("run", EXAMPLE, "--flow", "sync", "--input", json.dumps(given),
                "--json", env=env)
        assert r.rc == 0, r
        results.append(r)
    made = customers_of(stripe)
    assert [c["email"] for c in made] == ["ann@acme.test", "bob@bolt.test"]
    assert made[1]["metadata"] == {"source": "flowrun", "account": "acc_2"}
    summary = step(results[1].json(), "summary")["output"]
    assert summary == [{"id": made[0]["id"], "email": "ann@acme.test"},
                       {"id": made[1]["id"], "email": "bob@bolt.test"}]
    first = results[0].json()
    assert len(find_steps(first["steps"], lambda s: s.get("id") == "create")) == 1
    assert len(posts_of(stripe)) == 1
    assert_recorded_without_key(run, results, tmp_path)
    # without a key it fails when it calls Stripe, saying how to give one
    r = run("run", EXAMPLE, "--flow", "sync", "--input", json.dumps(given),
            env={"STRIPE_URL": stripe.url}, unset=["STRIPE_API_KEY"])
    assert r.rc == 1, r
    assert "no Stripe secret key: set STRIPE_API_KEY" in r.stderr, r
