"""`flowrun test` (testing.md, flowrun-test(5)) through the command line: test
files, every mock form, expectations and their diffs, signatures, reports,
--update, and tests recorded by `flowrun run --record`."""

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET

from helpers import (ROOT, SECRETS, account_input, add_accounts, example_args,
                     messages_of)
from serving import make_project

EXAMPLE_TESTS = os.path.join(ROOT, "flows", "progix-to-slack.test.yaml")

LAB = """\
integration: lab
config:
  api_url: { default: "http://127.0.0.1:9" }
  api_key: { secret: true, env: LAB_API_KEY }
  hook_secret: { secret: true, env: LAB_HOOK_SECRET }
connections:
  api:
    connector: labapi
    with: { base_url: "${{ .config.api_url }}", key: "${{ .config.api_key }}" }
flows:
  items:
    trigger: manual
    steps:
      - id: all
        action: api.list_items
      - id: details
        loop: { over: .trigger.ids, as: id }
        steps:
          - id: item
            action: api.get_item
            with: { id: "${{ $id }}" }
      - id: saved
        action: api.save
        with: { n: "${{ .steps.details | length }}" }
      - id: exec
        transform: .execution
      - set: { count: "${{ .steps.details | length }}", last: "${{ .state.last }}" }
  router:
    trigger: { webhook: {} }
    steps:
      - id: kind
        branch:
          - name: created
            when: '.trigger.headers["x-event"] == "created"'
            steps:
              - id: hello
                transform: '"created " + .trigger.query.who'
          - name: deleted
            when: '.trigger.headers["x-event"] == "deleted"'
            steps:
              - log: deleted
        else:
          - id: other
            transform: '"other"'
"""

SCHEMES = {
    "hmac_hex": 'scheme: hmac-sha256, header: X-Sig, prefix: "sha256="',
    "hmac_b64": "scheme: hmac-sha256, header: X-Sig, encoding: base64",
    "github": "scheme: github",
    "stripe": "scheme: stripe",
    "slack": "scheme: slack",
    "standard": "scheme: standard-webhooks",
    "token": 'scheme: token, header: X-Token, prefix: "Token "',
}
for name, verify in SCHEMES.items():
    LAB += """\
  %s:
    trigger:
      webhook:
        verify: { %s, secret: "${{ .config.hook_secret }}" }
    steps:
      - id: seen
        transform: '{headers: .trigger.headers, body: .trigger.body}'
""" % (name, verify)

LABAPI = """\
connector: labapi
inputs:
  base_url: { required: true }
  key: { required: true, secret: true }
http:
  base_url: "${{ .connection.base_url }}"
  headers: { Authorization: "Bearer ${{ .connection.key }}" }
  retry: { attempts: 2, on: [503], delay: 10s }
actions:
  list_items:
    effect: read
    method: GET
    path: /items
    result: .body.items
    paginate: { next: .body.next, query: page }
  get_item:
    effect: read
    method: GET
    path: "/items/${{ .input.id }}"
    result: .body
  save:
    effect: write
    method: POST
    path: /save
    body: { n: "${{ .input.n }}" }
    error: 'if .body.saved then null else "labapi: \\(.body.reason)" end'
    result: .body
    sample: { saved: true, sample: true }
"""

LAB_ENV = {"LAB_API_KEY": "lab-S3cret-key-1", "LAB_HOOK_SECRET": "lab-S3cret-hook-2"}

ITEMS_MOCKS = """\
    mocks:
      api.list_items: { output: [] }
      item:
        - when: '.id == "b"'
          output: { id: b, name: Bolt }
        - output: { id: first }
        - output: { id: second }
      api.save: { output: { saved: true } }
"""


def lab(tmp_path, tests):
    """A project with the lab integration; tests (YAML text) in
    flows/lab.test.yaml; the test file's path."""
    d = tmp_path / "proj"
    (d / "flows").mkdir(parents=True)
    (d / "connectors").mkdir()
    (d / "flows" / "lab.yaml").write_text(LAB)
    (d / "connectors" / "labapi.yaml").write_text(LABAPI)
    path = d / "flows" / "lab.test.yaml"
    path.write_text(tests)
    return path


def example(tmp_path, tests):
    """The example project with tests (YAML text) beside its flow file."""
    flows = make_project(str(tmp_path / "ex"), os.path.join(ROOT, "flows",
                                                             "progix-to-slack.yaml"))
    path = os.path.join(flows, "progix-to-slack.test.yaml")
    with open(path, "w") as f:
        f.write(tests)
    return path


def summary(r):
    lines = r.stdout.strip().splitlines()
    assert lines, r
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert m, r
    return int(m.group(1)), int(m.group(2))


# -- the example and the suite's shape ----------------------------------------

def test_example_suite_passes(run):
    r = run("test", os.path.join(ROOT, "flows"))
    assert r.rc == 0, r
    passed, failed = summary(r)
    assert failed == 0 and passed >= 8, r
    # one line per test, then the summary
    lines = [l for l in r.stdout.splitlines() if l.startswith(("ok ", "FAIL "))]
    assert len(lines) == passed
    assert all(re.search(r"\(.*flows/[\w-]+\.test\.yaml:\d+, [\d.]+ ms\)$", l)
               for l in lines), r.stdout
    assert any("progix-to-slack.test.yaml:" in l for l in lines), r.stdout
    assert any("stripe-customers.test.yaml" in l for l in lines), r.stdout


def test_failing_suite_reports_a_diff_and_the_trace(run, tmp_path):
    path = example(tmp_path, """\
tests:
  - name: passes
    flow: account
    trigger: { webhook: { body: { accounts: [] }, sign: true } }
    mocks: { progix.get_accounts: { output: [] } }
  - name: wrong text
    flow: account
    trigger: { webhook: { body: { accounts: [{ id: a1 }] }, sign: true } }
    mocks:
      progix.get_accounts: { output: [{ id: a1, name: Acme, contact: Jo, email: jo@x.test }] }
      slack.post_message: { output: { ok: true } }
    expect:
      steps:
        messages: [{ text: "New account Acme" }]
""")
    r = run("test", path)
    assert r.rc == 1, r
    assert summary(r) == (1, 1)
    assert re.search(r"^ok +passes ", r.stdout, re.M), r
    assert re.search(r"^FAIL wrong text ", r.stdout, re.M), r
    assert "--- FAIL: wrong text" in r.stdout
    # located at the expectation, with expected and actual as a diff
    assert re.search(r"progix-to-slack\.test\.yaml:14:\d+: expect\.steps: not as expected",
                     r.stdout), r
    assert '-       "text": "New account Acme"' in r.stdout, r
    assert '+       "text": "New account Acme (Jo <jo@x.test>)"' in r.stdout, r
    # the failed execution's trace
    assert "trace:" in r.stdout and "progix-to-slack/account" in r.stdout
    assert "collect" in r.stdout.split("trace:")[1]


def test_filter_and_json(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: alpha one
    flow: router
    trigger: { webhook: { body: {} } }
  - name: beta two
    flow: router
    trigger: { webhook: { body: {} } }
    expect: { steps: { other: "not other" } }
""")
    r = run("test", path, "--filter", "alpha")
    assert r.rc == 0 and summary(r) == (1, 0), r
    assert "beta two" not in r.stdout
    r = run("test", path, "--json")
    assert r.rc == 1, r
    doc = r.json()
    assert doc["passed"] == 1 and doc["failed"] == 1
    beta = [t for t in doc["tests"] if t["name"] == "beta two"][0]
    assert beta["status"] == "failed" and beta["line"] == 5
    f = beta["failures"][0]
    assert f["expected"] == {"other": "not other"} and f["actual"]["other"] == "other"
    assert "trace" in beta
    assert r.stderr.strip().endswith("1 passed, 1 failed")


# -- mocks -------------------------------------------------------------------

def test_when_matching_and_call_order(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: answers in call order, when first
    flow: items
    trigger: { input: { ids: [a, b, c] } }
%s    expect:
      steps:
        details: [{ id: first }, { id: b, name: Bolt }, { id: second }]
        exec: ex_test_0001
      calls:
        item: { count: 3, input: [{ id: a }, { id: b }, { id: c }] }
        api.get_item: { count: 3 }
      state: { count: 3 }
""" % ITEMS_MOCKS)
    r = run("test", path)
    assert r.rc == 0, r
    assert summary(r) == (1, 0)


def test_a_list_of_answers_runs_out(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: four calls, three answers
    flow: items
    trigger: { input: { ids: [a, b, c, d] } }
%s""" % ITEMS_MOCKS)
    r = run("test", path)
    assert r.rc == 1, r
    assert re.search(r"lab\.test\.yaml:\d+:\d+: mock 'item' has 3 answers, all used: "
                     r"step 'item' of flow 'items' made another call with input "
                     r'\{"id":"d"\}', r.stdout), r


def test_a_missing_mock_names_the_action_and_shows_the_mock(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: no mock for save
    flow: items
    trigger: { input: { ids: [] } }
    mocks:
      api.list_items: { output: [] }
    expect: { status: failed }
""")
    r = run("test", path)
    assert r.rc == 1, r   # even though the flow failed as "expected"
    assert "no mock for action 'api.save' (step 'saved' of flow 'items'" in r.stdout, r
    assert "    mocks:\n      saved:\n        output: ..." in r.stdout, r


def test_error_mocks_and_error_expectations(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: save fails
    flow: items
    trigger: { input: { ids: [] } }
    mocks:
      api.list_items: { output: [] }
      saved: { error: "labapi: disk full" }
    expect:
      status: failed
      error: disk full
      state: { exactly: {} }
  - name: wrong error
    flow: items
    trigger: { input: { ids: [] } }
    mocks:
      api.list_items: { output: [] }
      saved: { error: "labapi: disk full" }
    expect:
      error: quota
""")
    r = run("test", path)
    assert r.rc == 1 and summary(r) == (1, 1), r
    assert "expect.error: the error does not contain 'quota'" in r.stdout, r
    assert "labapi: disk full" in r.stdout


def test_http_mocks_go_through_pagination_retries_and_the_error_expression(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: three pages, a retry, a refused save
    flow: items
    trigger: { input: { ids: [] } }
    mocks:
      api.list_items:
        - http: { status: 200, body: { items: [1, 2], next: p2 } }
        - http: { status: 503 }
        - http: { status: 200, body: { items: [3], next: p3 } }
        - http: { status: 200, body: { items: [4] } }
      api.save:
        http: { status: 200, body: { saved: false, reason: read-only } }
    expect:
      status: failed
      error: "labapi: read-only"
      steps:
        all: [1, 2, 3, 4]
  - name: an unexpected status
    flow: items
    trigger: { input: { ids: [] } }
    mocks:
      api.list_items: { http: { status: 404, body: nope } }
    expect:
      status: failed
      error: answered 404
""")
    r = run("test", path)
    assert r.rc == 0 and summary(r) == (2, 0), r
    # the connector's retry delay (10 s) is not waited for in a test
    assert r.seconds < 5, r


def test_http_request_pages_are_shown_in_the_trace(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: pages
    flow: items
    trigger: { input: { ids: [] } }
    mocks:
      api.list_items:
        - http: { status: 200, body: { items: [1], next: p2 } }
        - http: { status: 200, body: { items: [2] } }
      api.save: { output: { saved: true } }
    expect:
      steps: { all: [1, 99] }
""")
    r = run("test", path)
    assert r.rc == 1, r
    trace = r.stdout.split("trace:")[1]
    assert "GET http://127.0.0.1:9/items -> 200" in trace, r
    assert "GET http://127.0.0.1:9/items?page=p2 -> 200" in trace, r


def test_samples_are_used_only_when_asked(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: with samples
    flow: items
    samples: true
    trigger: { input: { ids: [] } }
    mocks:
      api.list_items: { output: [] }
    expect:
      steps: { saved: { sample: true } }
""")
    r = run("test", path)
    assert r.rc == 0, r


def test_state_is_seeded_and_kept_per_test(run, tmp_path):
    tests = "tests:\n"
    for i in range(6):
        tests += """\
  - name: seeded %d
    flow: items
    trigger: { input: { ids: [] } }
    state: { last: %d }
    mocks:
      api.list_items: { output: [] }
      api.save: { output: { saved: true } }
    expect:
      state: { exactly: { last: %d, count: 0 } }
""" % (i, i, i)
    r = run("test", lab(tmp_path, tests))
    assert r.rc == 0 and summary(r) == (6, 0), r


def test_assertions(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: asserts
    flow: router
    trigger: { webhook: { body: {}, headers: { X-Event: created }, query: { who: jo } } }
    expect:
      steps: { kind: { branch: created }, hello: created jo }
      response: { status: 200 }
      assert:
        - '.steps.hello == "created jo"'
        - '.trigger.headers["x-event"] == "created"'
        - '.status == "failed"'
""")
    r = run("test", path)
    assert r.rc == 1, r
    assert "expect.assert '.status == \"failed\"' is false" in r.stdout, r
    assert r.stdout.count("expect.assert") == 1


CLOCK = """\
integration: clock
flows:
  now:
    trigger: manual
    steps:
      - id: t
        transform: now
      - id: day
        transform: now | todate
      - id: order
        transform: '"ord_\\(now | floor)_\\(.execution)"'
      - id: later
        transform: '(now + 86400) | todate | fromdate'
      - id: parsed
        transform: '"2026-03-01T12:00:00Z" | strptime("%Y-%m-%dT%H:%M:%SZ") | mktime'
"""


def test_jq_now_is_the_test_time(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: at a given time
    flow: clock/now
    now: 2026-01-31T09:30:00Z
    expect:
      steps:
        t: 1769851800
        day: "2026-01-31T09:30:00Z"
        later: 1769938200
        parsed: 1772366400
      assert:
        - 'now == 1769851800'
        - '.steps.order | startswith("ord_1769851800_")'
  - name: at the default time
    flow: clock/now
    expect:
      steps: { t: 1767225600, day: "2026-01-01T00:00:00Z" }
  - name: in unix seconds
    flow: clock/now
    now: 1700000000
    expect:
      steps: { t: 1700000000 }
""")
    (path.parent / "clock.yaml").write_text(CLOCK)
    for _ in range(2):  # the same outputs every time
        r = run("test", path)
        assert r.rc == 0 and summary(r) == (3, 0), r


# -- webhook signatures --------------------------------------------------------

def test_sign_true_passes_every_verify_scheme(run, tmp_path):
    tests = "tests:\n"
    for name in SCHEMES:
        tests += """\
  - name: %s signed
    flow: %s
    trigger: { webhook: { body: { n: 1 }, sign: true } }
    expect: { steps: { seen: { body: { n: 1 } } } }
  - name: %s unsigned
    flow: %s
    trigger: { webhook: { body: { n: 1 } } }
    expect: { status: rejected, response: { status: 401 } }
""" % (name, name, name, name)
    tests += """\
  - name: standard webhooks with a whsec_ secret
    flow: standard
    config: { hook_secret: "whsec_c2VjcmV0LWJ5dGVz" }
    trigger: { webhook: { body: { n: 2 }, sign: true } }
  - name: the token header is not kept
    flow: token
    trigger: { webhook: { body: {}, sign: true } }
    expect:
      assert: ['.steps.seen.headers | has("x-token") | not']
  - name: a signature over another body is refused
    flow: github
    trigger:
      webhook:
        raw_body: '{"n": 1}'
        headers: { X-Hub-Signature-256: "sha256=4f3c" }
    expect: { status: rejected }
"""
    r = run("test", lab(tmp_path, tests))
    assert r.rc == 0, r
    assert summary(r) == (2 * len(SCHEMES) + 3, 0)


def test_a_wrong_status_expectation_on_a_refused_delivery(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: unsigned but expected to run
    flow: stripe
    trigger: { webhook: { body: {} } }
""")
    r = run("test", path)
    assert r.rc == 1, r
    assert "expect.status: expected ok, got rejected: no signature header" in r.stdout, r


# -- broken files ----------------------------------------------------------------

def test_a_broken_test_file_is_located(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: misspelt
    flow: items
    trigger: { input: {} }
    expcet: { status: ok }
  - name: unknown flow
    flow: itmes
  - name: unknown mock
    flow: items
    mocks:
      api.list_item: { output: [] }
      item: { output: 1, error: x }
""")
    r = run("test", path)
    assert r.rc == 3, r
    assert re.search(r"lab\.test\.yaml:5:5: error: unknown key 'expcet' in test; "
                     r"did you mean 'expect'\?", r.stderr), r
    assert re.search(r"lab\.test\.yaml:7:11: error: no flow 'itmes'.*did you mean "
                     r"'lab/items'\?", r.stderr), r
    assert re.search(r"lab\.test\.yaml:11:7: error: no action step or action "
                     r"'api.list_item' in this flow; did you mean 'api.list_items'\?",
                     r.stderr), r
    assert re.search(r"lab\.test\.yaml:12:13: error: a mock answer gives one of", r.stderr), r
    assert "passed" not in r.stdout


def test_yaml_syntax_and_jq_errors_are_located(run, tmp_path):
    path = lab(tmp_path, "tests:\n  - name: [unclosed\n")
    r = run("test", path)
    assert r.rc == 3, r
    assert re.search(r"lab\.test\.yaml:\d+:\d+: error: ", r.stderr), r
    path.write_text("""\
tests:
  - name: bad jq
    flow: router
    trigger: { webhook: {} }
    expect: { assert: ['.steps | lenght'] }
""")
    r = run("test", path)
    assert r.rc == 3, r
    assert re.search(r"lab\.test\.yaml:5:24: error: .*lenght", r.stderr), r


# -- reports ---------------------------------------------------------------------

MIXED = """\
tests:
  - name: created
    flow: router
    trigger: { webhook: { body: {}, headers: { X-Event: created }, query: { who: a } } }
    expect: { steps: { hello: created a } }
  - name: "other <&> \\"quoted\\""
    flow: router
    trigger: { webhook: { body: {} } }
    expect: { steps: { other: something else } }
"""


def test_junit_xml(run, tmp_path):
    path = lab(tmp_path, MIXED)
    out = tmp_path / "junit.xml"
    r = run("test", path, "--junit", out)
    assert r.rc == 1, r
    root = ET.parse(str(out)).getroot()
    assert root.tag == "testsuites"
    assert root.get("tests") == "2" and root.get("failures") == "1"
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name").endswith("lab.test.yaml")
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == ["created", 'other <&> "quoted"']
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert "expect.steps: not as expected" in failure.get("message")
    assert '"something else"' in failure.text


def test_github_annotations(run, tmp_path):
    path = lab(tmp_path, MIXED)
    r = run("test", path, env={"GITHUB_ACTIONS": "true"})
    assert r.rc == 1, r
    ann = [l for l in r.stdout.splitlines() if l.startswith("::error ")]
    assert len(ann) == 1, r
    assert re.fullmatch(r"::error file=\S*lab\.test\.yaml,line=9,title=[^:]*::"
                        r"expect\.steps: not as expected", ann[0]), ann
    r = run("test", path, env={"GITHUB_ACTIONS": "false"})
    assert "::error" not in r.stdout


def test_coverage_names_the_untested_branch_case(run, tmp_path):
    path = lab(tmp_path, MIXED)
    r = run("test", path, "--coverage")
    out = r.stdout
    assert "coverage: lab/router: " in out, r
    router = out.split("coverage: lab/router: ")[1].split("coverage:")[0]
    assert "branch 'kind' case 'deleted'" in router, r
    assert "case 'created'" not in router and "case 'else'" not in router
    assert re.search(r"coverage: lab/items: no test", out), r
    # the whole example is covered by its own tests
    r = run("test", os.path.join(ROOT, "flows"), "--coverage")
    for flow in ("progix-to-slack/deploy", "progix-to-slack/account",
                 "progix-to-slack/remove", "stripe-customers/sync"):
        assert "coverage: %s: every step and branch case ran" % flow in r.stdout, r


def test_update_rewrites_the_failing_expectations(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  # a comment that stays
  - name: created
    flow: router
    trigger: { webhook: { body: {}, headers: { X-Event: created }, query: { who: a } } }
    expect:
      steps:
        hello: not this
        kind: { branch: deleted }
      response: { status: 200 }
  - name: untouched
    flow: router
    trigger: { webhook: { body: {} } }
    expect: { steps: { other: other } }
""")
    before = path.read_text()
    r = run("test", path, "--update")
    assert r.rc == 1, r
    assert "updated the expectations of 1 test" in r.stderr
    after = path.read_text()
    assert after != before
    assert "# a comment that stays" in after
    assert "expect: { steps: { other: other } }" in after
    assert "not this" not in after
    r = run("test", path)
    assert r.rc == 0 and summary(r) == (2, 0), (r, after)


def test_update_rewrites_every_expectation_it_compares(run, tmp_path):
    path = lab(tmp_path, """\
tests:
  - name: many wrong
    flow: items
    trigger: { input: { ids: [a] } }
    state: { last: 1 }
    mocks:
      api.list_items: { output: [] }
      item: { output: { id: a, name: Acme } }
      api.save: { output: { saved: true } }
    expect:
      status: failed  # a comment after a value stays
      # a comment between expectations stays
      steps:
        item: { name: Bolt }
        saved: { saved: false }
      calls:
        api.save: { count: 3 }
      state: { count: 7 }
      output: not the output
      assert: ['.steps.exec == "nope"']
  - name: wrong error
    flow: items
    trigger: { input: { ids: [] } }
    mocks:
      api.list_items: { output: [] }
      api.save: { error: "labapi: disk full" }
    expect:
      error: "quota"
""")
    r = run("test", path, "--update")
    assert r.rc == 1, r
    assert "updated the expectations of 2 tests" in r.stderr, r
    after = path.read_text()
    assert "# a comment after a value stays" in after
    assert "# a comment between expectations stays" in after
    assert "status: ok" in after, after
    assert '"labapi: disk full"' in after or "labapi: disk full" in after, after
    for gone in ("Bolt", "saved: false", "count: 3", "count: 7", "not the output",
                 "quota"):
        assert gone not in after, (gone, after)
    # only the assertion is left failing: a program is not derived from a value
    r = run("test", path)
    assert r.rc == 1 and summary(r) == (1, 1), (r, after)
    assert "expect.assert" in r.stdout and "not as expected" not in r.stdout, r


# -- recording -------------------------------------------------------------------

ACCOUNTS = [
    {"name": "Acme", "contact": "Ada Lovelace", "email": "ada@acme.test"},
    {"name": "Globex", "contact": "Hank Scorpio", "email": "hank@globex.test"},
]


def test_a_recorded_test_passes_and_holds_no_secret(run, progix, slack, tmp_path):
    ids = add_accounts(progix, *ACCOUNTS)
    rec = tmp_path / "flows" / "recorded.test.yaml"
    flows = make_project(str(tmp_path), os.path.join(ROOT, "flows",
                                                      "progix-to-slack.yaml"))
    args = example_args(progix, slack)
    args[0] = flows
    r = run("run", *args, "--flow", "account", "--input", account_input(*ids),
            "--header", "X-Progix-Signature: sha256=feedface",
            "--header", "Authorization: Bearer " + SECRETS[0],
            "--header", "X-Request-Id: r-1", "--record", rec)
    assert r.rc == 0, r
    assert len(messages_of(slack)) == 2
    text = rec.read_text()
    for s in SECRETS:
        assert s not in text, text
    assert "authorization" not in text.lower()
    assert "x-progix-signature" not in text.lower()
    assert "sign: true" in text and "x-request-id" in text
    # it runs offline: the stand-ins see nothing more
    before = len(messages_of(slack))
    r = run("test", rec)
    assert r.rc == 0, (r, text)
    assert summary(r) == (1, 0)
    assert len(messages_of(slack)) == before
    assert "progix-to-slack/account as recorded" in r.stdout
    # the same test from the stored execution
    r = run("runs", "--json")
    assert r.rc == 0, r
    got = r.json()
    ex = (got if isinstance(got, list) else got["executions"])[0]["id"]
    r = run("show", ex, "--as-test", flows)
    assert r.rc == 0, r
    for s in SECRETS:
        assert s not in r.stdout
    assert "authorization" not in r.stdout.lower()
    shown = tmp_path / "flows" / "shown.test.yaml"
    shown.write_text(r.stdout)
    r = run("test", shown)
    assert r.rc == 0 and summary(r) == (1, 0), (r, shown.read_text())


def test_a_recording_of_an_offline_run_passes(run, tmp_path):
    path = lab(tmp_path, "tests: []\n")
    rec = tmp_path / "rec.test.yaml"
    r = run("run", path.parent, "--flow", "items", "--offline", "--input",
            '{"ids": ["x"]}', "--mock", "all=[]", "--mock", 'item={"id": "x"}',
            "--record", rec, env=LAB_ENV)
    assert r.rc == 0, r   # save used its sample
    text = rec.read_text()
    assert "item:" in text and "all:" in text
    shutil.move(str(rec), str(path))
    r = run("test", path)
    assert r.rc == 0, (r, text)
    assert "lab-S3cret" not in text


# -- the local loop in `run` ---------------------------------------------------------

def test_run_header_query_and_step_mocks(run, tmp_path):
    path = lab(tmp_path, "tests: []\n")
    r = run("run", path.parent, "--flow", "router", "--offline", "--json",
            "--header", "X-Event: created", "--query", "who=jo", env=LAB_ENV)
    assert r.rc == 0, r
    t = r.json()
    assert t["output"] == {"branch": "created", "output": "created jo"}, t
    r = run("run", path.parent, "--flow", "items", "--offline", "--json",
            "--input", '{"ids": ["a"]}', "--mock", "all=[7]",
            "--mock", 'item={"id": "mocked"}', "--mock", 'api.save={"saved": 1}',
            env=LAB_ENV)
    assert r.rc == 0, r
    steps = {s["id"]: s for s in r.json()["steps"] if s["id"]}
    assert steps["all"]["output"] == [7]
    assert steps["saved"]["output"] == {"saved": 1}
    r = run("run", path.parent, "--flow", "items", "--offline", "--mock", "nosuch=1",
            env=LAB_ENV)
    assert r.rc == 2 and "no action step with this id" in r.stderr, r
    r = run("run", path.parent, "--flow", "items", "--header", "A: b", env=LAB_ENV)
    assert r.rc == 2 and "webhook flows" in r.stderr, r


def test_run_delivery_runs_a_recorded_trigger_again(run, tmp_path):
    path = lab(tmp_path, "tests: []\n")
    r = run("run", path.parent, "--flow", "router", "--json",
            "--header", "X-Event: created", "--query", "who=ann", env=LAB_ENV)
    assert r.rc == 0, r
    ex = r.json()["execution"]
    r = run("run", path.parent, "--delivery", ex, "--json", env=LAB_ENV)
    assert r.rc == 0, r
    t = r.json()
    assert t["flow"] == "router" and t["execution"] != ex
    assert t["output"] == {"branch": "created", "output": "created ann"}, t
    r = run("run", path.parent, "--delivery", ex, "--flow", "items", env=LAB_ENV)
    assert r.rc == 2 and "not of 'items'" in r.stderr, r
    r = run("run", path.parent, "--delivery", "ex_nosuch", env=LAB_ENV)
    assert r.rc == 1 and "no execution 'ex_nosuch'" in r.stderr, r
    r = run("run", path.parent, "--delivery", ex, "--input", "{}", env=LAB_ENV)
    assert r.rc == 2, r
