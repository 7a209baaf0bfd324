"""--log-format json makes every line on stderr JSON: for every command, in
cases where it logs (its own errors, log steps, diagnostics, lists of
candidates), and for serve under load (many concurrent deliveries: every
line parses, none is interleaved with another, one per execution)."""

import json
import re
import threading

from serving import wait_for

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

FLOWS = """\
integration: lj
flows:
  say:
    steps:
      - id: hello
        log: "hello from say"
      - fail: "say fails"
  setup:
    trigger: deploy
    steps:
      - log: "deploying"
  teardown:
    trigger: remove
    steps:
      - log: "removing"
  hook:
    trigger:
      webhook: {}
    steps:
      - id: note
        log: "delivery ${{ .trigger.body.n }}"
"""

BAD = "integration: bad\nflows:\n  f:\n    steps:\n      - id: x\n" \
      "        transfrom: 1\n"

# commands that log nothing but usage errors, which are not log lines
# (they come before the options that would make them JSON are read)
SILENT = {"completion", "help", "version"}


def json_lines(text):
    out = []
    for l in text.splitlines():
        try:
            x = json.loads(l)
        except ValueError:
            raise AssertionError("not a JSON line: %r\nin:\n%s" % (l, text))
        assert isinstance(x, dict) and TS.fullmatch(x["ts"]), l
        assert x["level"] in ("debug", "info", "warn", "error"), l
        assert isinstance(x["msg"], str), l
        out.append(x)
    return out


def commands(run):
    r = run("help")
    return re.findall(r"^  ([a-z]+) ", r.stdout, re.M)


def project(tmp_path):
    (tmp_path / "p" / "flows").mkdir(parents=True)
    (tmp_path / "p" / "flows" / "lj.yaml").write_text(FLOWS)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bad.yaml").write_text(BAD)
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.db").write_bytes(b"this is no database, " * 100)
    return tmp_path / "p" / "flows"


def test_every_command_logs_json_lines(run, tmp_path):
    flows = project(tmp_path)
    garbage = "sqlite:%s" % (tmp_path / "garbage.db")
    # two executions for show's ambiguous prefix and replay
    for _ in range(2):
        assert run("run", flows, "--flow", "say").rc == 1
    cases = {
        "deploy": [["deploy", flows], ["deploy", tmp_path / "bad"]],
        "deployments": [["deployments", "--store", garbage]],
        "graph": [["graph", tmp_path / "bad"]],
        "prune": [["prune", "--older-than", "7d", "--store", garbage]],
        "replay": [["replay", "ex_nothing_like_it"], ["replay", "--failed",
                                                      "--store", garbage]],
        "run": [["run", flows, "--flow", "say"],
                ["run", flows, "--flow", "nosuch"],
                ["run", tmp_path / "bad", "--flow", "f"],
                ["run", flows, "--flow", "say", "--delivery", "ex_nope"]],
        "runs": [["runs", "--store", garbage]],
        "serve": [["serve", tmp_path / "bad"]],
        "show": [["show", "ex_"], ["show", "ex_nothing_like_it"]],
        "state": [["state", "nokey"], ["state", "--store", garbage]],
        "test": [["test", tmp_path / "empty"]],
        "undeploy": [["undeploy", flows]],
        "validate": [["validate", tmp_path / "bad"]],
    }
    assert set(commands(run)) == set(cases) | SILENT, commands(run)
    for name, runs in cases.items():
        for args in runs:
            r = run(*args, "--log-format", "json", timeout=20)
            lines = json_lines(r.stderr)
            assert lines, ("nothing logged", r)

    # what the lines hold
    r = run("run", flows, "--flow", "say", "--log-format", "json")
    said = json_lines(r.stderr)
    assert [x["msg"] for x in said] == ["hello from say", "say fails"], said
    assert said[0]["step"] == "hello" and said[0]["execution"].startswith("ex_")
    r = run("validate", tmp_path / "bad", "--log-format", "json")
    diag, summary = json_lines(r.stderr)
    assert diag["file"].endswith("bad.yaml") and diag["line"] == 6, diag
    assert diag["column"] == 9 and diag["severity"] == "error", diag
    assert "transfrom" in diag["message"] and diag["hint"], diag
    assert diag["msg"].startswith(diag["file"] + ":6:9: error: "), diag
    assert summary["msg"] == "1 error, 0 warnings in 1 file", summary
    r = run("show", "ex_", "--log-format", "json")
    head, candidates = json_lines(r.stderr)
    assert "ambiguous" in head["msg"] and candidates["msg"].count("ex_") >= 3, \
        (head, candidates)
    r = run("state", "nokey", "--log-format", "json")
    (x,) = json_lines(r.stderr)
    assert x["command"] == "state" and "nokey" in x["msg"], x
    # and the text forms are as they were
    r = run("state", "nokey")
    assert r.stderr == "flowrun state: no state key 'nokey' for instance " \
        "'default'\n", r


def test_serve_under_load_writes_whole_json_lines(serve, tmp_path, run):
    flows = project(tmp_path)
    n, threads = 300, 12
    srv = serve(flows, "--log-format", "json", "--workers", "8",
                "--http-threads", "4")
    answers = []
    lock = threading.Lock()

    def post(k):
        for i in range(k, n, threads):
            r = srv.post("/hooks/lj/hook", {"n": i})
            with lock:
                answers.append(r.status)
    ts = [threading.Thread(target=post, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert answers.count(202) == n, answers

    def all_logged():
        return srv.log().count('"msg":"delivery ') == n
    wait_for(all_logged, 120, "a log line of each of the %d executions" % n)
    lines = json_lines(srv.log())
    notes = [x for x in lines if x["msg"].startswith("delivery ")]
    assert sorted(int(x["msg"].split()[1]) for x in notes) == list(range(n))
    assert len({x["execution"] for x in notes}) == n
    assert all(x["flow"] == "hook" and x["step"] == "note" for x in notes)
