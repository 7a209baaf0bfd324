"""Usage and configuration errors of `flowrun run`, and the forms of --input."""

import json

from helpers import EXAMPLE, flow_file, requests_of

SEM = flow_file("semantics")


def test_missing_flow_option(run):
    r = run("run", EXAMPLE)
    assert r.rc == 2, r
    assert "--flow" in r.stderr
    assert r.stdout == ""


def test_unknown_flow_lists_the_flows(run):
    r = run("run", EXAMPLE, "--flow", "nope")
    assert r.rc == 2, r
    assert "nope" in r.stderr
    for name in ("account", "deploy", "remove"):
        assert "progix-to-slack/" + name in r.stderr, r


def test_unknown_option(run):
    r = run("run", EXAMPLE, "--flow", "account", "--no-such-option")
    assert r.rc == 2, r
    assert "--no-such-option" in r.stderr


def test_bad_input_json(run):
    r = run("run", EXAMPLE, "--flow", "account", "--input", "{not json")
    assert r.rc == 2, r
    assert "--input" in r.stderr and "JSON" in r.stderr


def test_bad_input_json_does_not_run(run, progix):
    r = run("run", EXAMPLE, "--flow", "account", "--input", "[1, 2",
            "--set", "progix_url=" + progix.url)
    assert r.rc == 2, r
    assert requests_of(progix) == []


def test_input_file_missing(run):
    r = run("run", EXAMPLE, "--flow", "account", "--input", "@/nonexistent/in.json")
    assert r.rc == 2, r
    assert "/nonexistent/in.json" in r.stderr
    # a message for people: no library placeholders such as line -1
    assert "-1:-1" not in r.stderr, r.stderr


def test_bad_input_file(run, tmp_path):
    f = tmp_path / "in.json"
    f.write_text('{"items": [1, 2,]}')
    r = run("run", SEM, "--flow", "loop", "--input", "@%s" % f)
    assert r.rc == 2, r
    assert str(f) in r.stderr


def test_input_forms(run, tmp_path):
    f = tmp_path / "in.json"
    f.write_text('{"items": [1, 2]}')
    for args, stdin in ((["--input", '{"items": [1, 2]}'], None),
                        (["--input", "@%s" % f], None),
                        (["--input", "-"], '{"items": [1, 2]}')):
        r = run("run", SEM, "--flow", "loop", "--json", *args, stdin=stdin)
        assert r.rc == 0, r
        assert r.json()["output"] == [10, 21], args


def test_flow_by_integration_and_name(run):
    r = run("run", SEM, "--flow", "e2e-semantics/loop", "--json",
            "--input", '{"items": [3]}')
    assert r.rc == 0, r
    assert r.json()["output"] == [30]


def test_set_of_an_unknown_variable(run):
    r = run("run", EXAMPLE, "--flow", "account", "--set", "no_such_var=1")
    assert r.rc == 4, r
    assert "no_such_var" in r.stderr


def test_set_of_a_misspelt_variable_suggests(run):
    r = run("run", EXAMPLE, "--flow", "account", "--set", "slack_chanel=#x")
    assert r.rc == 4, r
    assert ("--set slack_chanel: integration 'progix-to-slack' has no config "
            "variable 'slack_chanel'; did you mean 'slack_channel'?") in r.stderr, r


def test_deploy_set_of_a_misspelt_variable_suggests(run):
    # deploy checks --set names with the same function as run and serve
    r = run("deploy", EXAMPLE, "--dry-run", "--set", "slack_chanel=#x")
    assert r.rc == 4, r
    assert ("--set slack_chanel: integration 'progix-to-slack' has no config "
            "variable 'slack_chanel'; did you mean 'slack_channel'?") in r.stderr, r


def test_set_without_value(run):
    r = run("run", EXAMPLE, "--flow", "account", "--set", "slack_channel")
    assert r.rc == 2, r


def test_bad_mock(run):
    r = run("run", EXAMPLE, "--flow", "account", "--mock", "progix.get_accounts={x")
    assert r.rc == 2, r
    assert "--mock" in r.stderr
    r = run("run", EXAMPLE, "--flow", "account", "--mock", "no-dot=[]")
    assert r.rc == 2, r


def test_unknown_instance(run):
    r = run("run", EXAMPLE, "--flow", "account", "--instance", "acme")
    assert r.rc == 4, r
    assert "acme" in r.stderr


def test_missing_flow_file(run):
    r = run("run", "/nonexistent/flows.yaml", "--flow", "account")
    assert r.rc == 3, r
    assert "/nonexistent/flows.yaml" in r.stderr


def test_help(run):
    r = run("run", "--help")
    assert r.rc == 0, r
    for opt in ("--flow", "--input", "--instance", "--set", "--dry-run",
                "--offline", "--mock", "--public-url", "--json"):
        assert opt in r.stdout + r.stderr, opt


def test_json_output_is_one_document(run):
    r = run("run", SEM, "--flow", "log", "--json", "--input", '{"name": "x"}')
    assert r.rc == 0, r
    t = json.loads(r.stdout)
    for key in ("execution", "integration", "flow", "instance", "status",
                "dry_run", "trigger", "duration_ms", "error", "requests",
                "writes_sent", "writes_skipped", "output", "steps"):
        assert key in t, key
    assert t["trigger"] == "manual" and t["instance"] == "default"
    assert t["execution"]
    for s in t["steps"]:
        for key in ("id", "kind", "line", "status", "duration_ms", "output"):
            assert key in s, (key, s)
