"""Pagination from the connector file alone (flowrun-connector(5),
"paginate"): a cursor in the body (next + query) and the next page's URL
(next_url, e.g. from an RFC 8288 Link header), through `flowrun test` with
http answers, which go through the connector's pagination as real ones do.
A next URL on another origin is refused before anything is sent to it.
The GitHub connector against its stand-in is in test_github.py."""

import re

FLOW = """\
integration: pages
config:
  api_url: { default: "https://api.pages.test" }
  api_key: { secret: true, env: PAGES_API_KEY }
connections:
  api:
    connector: pages
    with: { base_url: "${{ .config.api_url }}", key: "${{ .config.api_key }}" }
flows:
  by_link:
    trigger: manual
    steps:
      - id: all
        action: api.by_link
  by_cursor:
    trigger: manual
    steps:
      - id: all
        action: api.by_cursor
"""

CONNECTOR = r"""
connector: pages
inputs:
  base_url: { required: true }
  key: { required: true, secret: true }
http:
  base_url: "${{ .connection.base_url }}"
  headers: { Authorization: "Bearer ${{ .connection.key }}" }
actions:
  by_link:
    effect: read
    method: GET
    path: /items
    query: { per_page: 2 }
    result: .body
    paginate:
      next_url: '[.headers.link // "" | scan("<([^>]+)>;\\s*rel=\"next\"") | .[0]] | .[0]'
      max: 5
  by_cursor:
    effect: read
    method: GET
    path: /things
    result: .body.data
    paginate: { next: .body.next, query: cursor }
"""

KEY = "pages-S3cret-key-4a1b"
ENV = {"PAGES_API_KEY": KEY}


def project(tmp_path, tests, connector=CONNECTOR):
    d = tmp_path / "proj"
    (d / "flows").mkdir(parents=True)
    (d / "connectors").mkdir()
    (d / "flows" / "pages.yaml").write_text(FLOW)
    (d / "connectors" / "pages.yaml").write_text(connector)
    path = d / "flows" / "pages.test.yaml"
    path.write_text(tests)
    return path


def summary(r):
    lines = r.stdout.strip().splitlines()
    assert lines, r
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert m, r
    return int(m.group(1)), int(m.group(2))


def link(*rels):
    """A Link header value as GitHub writes it: <URL>; rel="REL", ..."""
    return ", ".join('<%s>; rel="%s"' % (url, rel) for rel, url in rels)


PAGE2 = "https://api.pages.test/items?per_page=2&page=2"
PAGE3 = "https://api.pages.test/items?per_page=2&page=3"
FIRST = "https://api.pages.test/items?per_page=2&page=1"


def test_link_header_pages_are_followed_and_concatenated(run, tmp_path):
    path = project(tmp_path, """\
tests:
  - name: three pages by Link
    flow: by_link
    mocks:
      api.by_link:
        - http:
            status: 200
            headers: { link: '%s' }
            body: [1, 2]
        - http:
            status: 200
            headers: { link: '%s' }
            body: [3, 4]
        - http:
            status: 200
            headers: { link: '%s' }
            body: [5]
    expect:
      steps: { all: [1, 2, 3, 4, 5] }
  - name: one page without a Link header
    flow: by_link
    mocks:
      api.by_link: { http: { status: 200, body: [7] } }
    expect:
      steps: { all: [7] }
""" % (link(("next", PAGE2), ("last", PAGE3)),
       link(("prev", FIRST), ("next", PAGE3), ("last", PAGE3), ("first", FIRST)),
       link(("prev", PAGE2), ("first", FIRST))))
    r = run("test", path, env=ENV)
    assert r.rc == 0 and summary(r) == (2, 0), r


def test_the_next_urls_are_the_ones_requested(run, tmp_path):
    # a failing test prints its trace: the URLs requested, page by page
    path = project(tmp_path, """\
tests:
  - name: pages
    flow: by_link
    mocks:
      api.by_link:
        - http: { status: 200, headers: { link: '%s' }, body: [1] }
        - http: { status: 200, headers: { link: '<?per_page=2&page=3>; rel="next"' }, body: [2] }
        - http: { status: 200, body: [3] }
    expect:
      steps: { all: [] }
""" % link(("next", PAGE2)))
    r = run("test", path, env=ENV)
    assert r.rc == 1, r
    trace = r.stdout.split("trace:")[1]
    assert "GET https://api.pages.test/items?per_page=2 -> 200" in trace, r
    assert "GET %s -> 200" % PAGE2 in trace, r
    # a relative reference is resolved against the first page's URL
    assert "GET %s -> 200" % PAGE3 in trace, r
    assert KEY not in r.stdout + r.stderr


def test_a_next_url_on_another_origin_is_refused(run, tmp_path):
    cases = {
        "another host": "https://evil.test/items?page=2",
        "another port": "https://api.pages.test:8443/items?page=2",
        "another scheme": "http://api.pages.test/items?page=2",
        "user info hiding the host": "https://api.pages.test@evil.test/items",
        "network-path reference": "//evil.test/items?page=2",
    }
    tests = "tests:\n"
    for name, url in cases.items():
        tests += """\
  - name: %s
    flow: by_link
    mocks:
      api.by_link:
        - http: { status: 200, headers: { link: '<%s>; rel="next"' }, body: [1] }
        - http: { status: 200, body: [2] }
    expect:
      status: failed
      error: "refused to follow the next page's URL"
""" % (name, url)
    path = project(tmp_path, tests)
    r = run("test", path, env=ENV)
    assert r.rc == 0 and summary(r) == (len(cases), 0), r


def test_the_refusal_names_both_origins(run, tmp_path):
    path = project(tmp_path, """\
tests:
  - name: elsewhere
    flow: by_link
    mocks:
      api.by_link:
        - http: { status: 200, headers: { link: '<https://evil.test:4443/x>; rel="next"' }, body: [1] }
    expect:
      status: ok
""")
    r = run("test", path, env=ENV)
    assert r.rc == 1, r
    assert ("refused to follow the next page's URL 'https://evil.test:4443/x': "
            "it is on https://evil.test:4443, not on https://api.pages.test:443"
            in r.stdout), r
    assert KEY not in r.stdout + r.stderr


def test_more_pages_than_max_fail(run, tmp_path):
    answers = "".join(
        "        - http: { status: 200, headers: { link: '<%s%d>; rel=\"next\"' }, body: [%d] }\n"
        % ("https://api.pages.test/items?page=", i + 2, i) for i in range(6))
    path = project(tmp_path, """\
tests:
  - name: endless
    flow: by_link
    mocks:
      api.by_link:
%s    expect:
      status: failed
      error: "more than 5 pages"
""" % answers)
    r = run("test", path, env=ENV)
    assert r.rc == 0 and summary(r) == (1, 0), r


def test_cursor_in_the_body_still_works(run, tmp_path):
    path = project(tmp_path, """\
tests:
  - name: cursor pages
    flow: by_cursor
    mocks:
      api.by_cursor:
        - http: { status: 200, body: { data: [a], next: "c 2" } }
        - http: { status: 200, body: { data: [b], next: c3 } }
        - http: { status: 200, body: { data: [c], next: null } }
    expect:
      steps: { all: [x] }
""")
    r = run("test", path, env=ENV)
    assert r.rc == 1, r
    assert '+     "a",\n    +     "b",\n    +     "c"\n' in r.stdout, r
    trace = r.stdout.split("trace:")[1]
    assert "GET https://api.pages.test/things -> 200" in trace, r
    assert "GET https://api.pages.test/things?cursor=c%202 -> 200" in trace, r
    assert "GET https://api.pages.test/things?cursor=c3 -> 200" in trace, r


def test_validate_checks_the_paginate_forms(run, tmp_path):
    bad = CONNECTOR.replace(
        "    paginate: { next: .body.next, query: cursor }",
        "    paginate: { next: .body.next, next_url: .body.url, query: cursor }\n"
        "  third:\n"
        "    effect: read\n"
        "    method: GET\n"
        "    path: /third\n"
        "    paginate: { next_url: .body.url, query: page }\n"
        "  fourth:\n"
        "    effect: read\n"
        "    method: GET\n"
        "    path: /fourth\n"
        "    paginate: { max: 3 }\n"
        "  fifth:\n"
        "    effect: read\n"
        "    method: GET\n"
        "    path: /fifth\n"
        "    paginate: { next_ur: .body.url }\n")
    path = project(tmp_path, "tests: []\n", connector=bad)
    r = run("validate", str(path.parent / "pages.yaml"))
    assert r.rc == 3, r
    err = r.stderr
    assert "error: 'paginate' has one of 'next' (a cursor) and 'next_url' (a URL)" in err, r
    assert "error: 'query' goes with 'next': 'next_url' yields the whole URL" in err, r
    assert "error: missing 'next' or 'next_url' in paginate" in err, r
    assert "unknown key 'next_ur' in paginate; did you mean 'next_url'?" in err, r
    good = project(tmp_path / "good", "tests: []\n")
    r = run("validate", str(good.parent / "pages.yaml"))
    assert r.rc == 0, r
