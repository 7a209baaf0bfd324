"""`flowrun show EXECUTION --graph dot|mermaid`: the flow's graph with each
step coloured by what it did in that execution (ok, failed with its error,
skipped, not reached), escaped for each format."""

import json
import re
import shutil
import subprocess

import pytest

FLOW = r'''integration: pic
flows:
  f:
    steps:
      - id: first
        transform: .trigger.n
      - id: pick
        branch:
          - name: big
            when: .trigger.n > 5
            steps:
              - id: big_one
                transform: '"big"'
        else:
          - id: small_one
            transform: '"small"'
      - id: each
        loop:
          over: '[1, 2]'
        steps:
          - id: inner
            transform: .item
      - id: maybe
        if: .trigger.n > 100
        transform: 1
      - id: boom
        if: .trigger.n < 100
        fail: "bad \"thing\" \\ <x> & #1 {y}\nsecond line"
      - id: after
        transform: 4
'''



@pytest.fixture
def failed(run, tmp_path):
    f = tmp_path / "pic.yaml"
    f.write_text(FLOW)
    r = run("run", f, "--flow", "f", "--input", '{"n": 1}', "--json")
    assert r.rc == 1 and r.json()["error"].startswith('bad "thing"'), r
    return f, r.json()["execution"]


def dot_nodes(text):
    """{label first line: attributes} as Graphviz itself reads them."""
    p = subprocess.run(["dot", "-Tjson"], input=text, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr + text
    g = json.loads(p.stdout)
    out = {}
    for o in g.get("objects", []):
        if "shape" in o:
            out[o["label"].split("\\n")[0]] = o
    return out


def test_dot_colours_each_step_by_what_it_did(run, failed):
    f, ident = failed
    r = run("show", ident[:12], "--graph", "dot", f)
    assert r.rc == 0, r
    lines = r.stdout.splitlines()

    def line_of(step_id):
        (l,) = [l for l in lines if re.search(r'label="%s\\n' % step_id, l)]
        return l
    for ok in ("first", "pick", "small_one", "each", "inner"):
        assert 'fillcolor="#c8e6c9"' in line_of(ok), (ok, r.stdout)
    assert "dashed" in line_of("maybe") and "#eeeeee" in line_of("maybe")
    for never in ("big_one", "after"):
        assert "style=dotted" in line_of(never), (never, r.stdout)
    boom = line_of("boom")
    assert 'fillcolor="#ffcdd2"' in boom and "penwidth=2" in boom, boom
    # the error, escaped for a dot string
    assert r'error: bad \"thing\" \\ <x> & #1 {y}\nsecond line"' in boom, boom
    assert 'label="end", style=dotted' in r.stdout       # not reached
    if shutil.which("dot"):
        nodes = dot_nodes(r.stdout)
        b = nodes["boom"]
        assert b["label"] == "boom\\nfail\\nif .trigger.n < 100\\nerror: " \
            'bad "thing" \\\\ <x> & #1 {y}\\nsecond line', b["label"]
        assert b["fillcolor"] == "#ffcdd2", b


def test_mermaid_classes_and_escapes(run, failed):
    f, ident = failed
    r = run("show", ident, "--graph", "mermaid", f)
    assert r.rc == 0, r
    out = r.stdout
    assert out.startswith("flowchart TD\n") and "classDef failed " in out, out
    (boom,) = [l for l in out.splitlines() if '"boom<br/>' in l]
    assert boom.endswith(":::failed"), boom
    label = re.search(r'\["(.*)"\]', boom)[1]
    assert '"' not in label and "<x>" not in label, label
    assert "error: bad #quot;thing#quot; \\ #lt;x#gt; #amp; #35;1 {y}<br/>second line" \
        in label, label
    for cls, step_id in (("ok", "first"), ("ok", "inner"), ("skipped", "maybe"),
                         ("notreached", "big_one"), ("notreached", "after")):
        (l,) = [l for l in out.splitlines() if '"%s<br/>' % step_id in l]
        assert l.endswith(":::" + cls), (step_id, l)


def test_an_ok_run_reaches_the_end(run, tmp_path):
    f = tmp_path / "pic.yaml"
    f.write_text(FLOW)
    r = run("run", f, "--flow", "f", "--input", '{"n": 500}', "--json")
    assert r.rc == 0, r
    r = run("show", r.json()["execution"], "--graph", "dot", f)
    assert 'label="end", style=filled' in r.stdout, r.stdout
    assert re.search(r'label="boom\\n[^"]*", style="filled,dashed"', r.stdout), r.stdout


def test_graph_errors(run, failed, tmp_path):
    f, ident = failed
    r = run("show", ident, "--graph", "svg", f)
    assert r.rc == 2 and "dot or mermaid" in r.stderr, r
    r = run("show", ident, "--graph", "dot", "--as-test", f)
    assert r.rc == 2, r
    other = tmp_path / "other.yaml"
    other.write_text("integration: other\nflows:\n  g:\n    steps:\n"
                     "      - transform: 1\n")
    r = run("show", ident, "--graph", "dot", other)
    assert r.rc == 3 and "not in the files loaded" in r.stderr, r
