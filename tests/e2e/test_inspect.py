"""Inspection from the command line: `flowrun state` (list, one key, set,
delete), `flowrun deployments`, and `runs --delivery`, on SQLite and on
PostgreSQL (--store)."""

import json

import pytest

from serving import wait_for

FLOWS = """\
integration: inspect
flows:
  remember:
    steps:
      - set: { cursor: "${{ .trigger.n }}", seen: { big: 9007199254740993 } }
  hook:
    trigger:
      webhook: { dedupe: '.trigger.headers["x-delivery-id"]' }
    steps:
      - id: body
        transform: .trigger.body
  setup:
    trigger: deploy
    steps:
      - set: { deployed: true }
"""

OTHER = """\
integration: other
flows:
  remember:
    steps:
      - set: { cursor: "other" }
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """--store URL of a new store of either backend."""
    if request.param == "sqlite":
        return "sqlite:%s" % (tmp_path / "inspect.db")
    return request.getfixturevalue("pg_db")


@pytest.fixture
def flows(tmp_path):
    f = tmp_path / "inspect.yaml"
    f.write_text(FLOWS)
    return f


def test_state_lists_reads_sets_and_deletes(run, tmp_path, flows, store):
    r = run("state", "--store", store, "--json")
    assert r.rc == 0 and r.json() == [], r          # nothing yet, no error
    r = run("run", flows, "--flow", "remember", "--input", '{"n": 41}',
            "--store", store)
    assert r.rc == 0, r
    r = run("state", "--store", store)
    assert r.rc == 0, r
    assert r.stdout.splitlines() == [
        'inspect/default  cursor  41',
        'inspect/default  seen  {"big":9007199254740993}'], r
    r = run("state", "cursor", "--store", store)
    assert r.rc == 0 and json.loads(r.stdout) == 41, r
    r = run("state", "seen", "--store", store)
    assert r.rc == 0 and "9007199254740993" in r.stdout, r   # exact integers
    r = run("state", "--json", "cursor", "--store", store)
    row = r.json()
    assert row["integration"] == "inspect" and row["instance"] == "default"
    assert row["key"] == "cursor" and row["value"] == 41, row
    assert isinstance(row["updated_at"], float), row

    # set: JSON checked, nothing written when it is not
    r = run("state", "set", "cursor", '{"page": 2', "--store", store)
    assert r.rc == 2 and "is not JSON" in r.stderr, r
    assert run("state", "cursor", "--store", store).stdout.strip() == "41"
    r = run("state", "set", "cursor", '{"page": 2}', "--store", store, "--json")
    assert r.rc == 0 and r.json()["value"] == {"page": 2}, r
    r = run("state", "set", "note", '"text"', "--store", store)
    assert r.rc == 0 and r.stdout == "", r
    r = run("state", "set", "-", "from-stdin", "--store", store)  # not a verb
    assert r.rc == 2, r
    r = run("state", "set", "piped", "-", "--store", store, stdin='[1, 2]')
    assert r.rc == 0, r
    # a flow sees what was set by hand
    r = run("run", flows, "--flow", "remember", "--input", '{"n": 7}',
            "--store", store, "--json")
    assert r.rc == 0, r
    r = run("state", "--json", "--store", store)
    assert {x["key"]: x["value"] for x in r.json()} == {
        "cursor": 7, "note": "text", "piped": [1, 2],
        "seen": {"big": 9007199254740993}}, r

    # delete
    r = run("state", "delete", "note", "--store", store)
    assert r.rc == 0, r
    r = run("state", "note", "--store", store)
    assert r.rc == 1 and "no state key 'note'" in r.stderr, r
    r = run("state", "delete", "note", "--store", store)
    assert r.rc == 1 and "no state key 'note'" in r.stderr, r

    # a second integration: the key is ambiguous without --integration
    other = tmp_path / "other.yaml"
    other.write_text(OTHER)
    assert run("run", other, "--flow", "remember", "--store", store).rc == 0
    r = run("state", "cursor", "--store", store)
    assert r.rc == 2 and "inspect, other" in r.stderr, r
    r = run("state", "cursor", "--integration", "other", "--store", store)
    assert r.rc == 0 and json.loads(r.stdout) == "other", r
    r = run("state", "set", "x", "1", "--store", store)
    assert r.rc == 2 and "--integration" in r.stderr, r
    r = run("state", "--integration", "inspect", "--store", store)
    assert all(l.startswith("inspect/default ") for l in r.stdout.splitlines()), r

    # other instances
    r = run("state", "set", "k", "true", "--instance", "prod", "--integration",
            "inspect", "--store", store)
    assert r.rc == 0, r
    r = run("state", "--store", store, "--json")
    assert "prod" not in {x["instance"] for x in r.json()}, r
    r = run("state", "--all-instances", "--store", store, "--json")
    assert {x["instance"] for x in r.json()} == {"default", "prod"}, r
    r = run("state", "k", "--instance", "prod", "--store", store)
    assert r.rc == 0 and r.stdout.strip() == "true", r


def test_state_usage_errors(run, tmp_path):
    for args, said in ((["state", "set"], "needs a KEY"),
                       (["state", "set", "k"], "KEY and a JSON value"),
                       (["state", "a", "b"], "unexpected argument 'b'"),
                       (["state", "delete", "k", "--all-instances"],
                        "--all-instances"),
                       (["state", "set", "k", "nope", "--integration", "i"],
                        "is not JSON")):
        r = run(*args)
        assert r.rc == 2 and said in r.stderr, r
    assert not (tmp_path / "store.db").exists()     # reading made no store
    r = run("state", "set", "k", "1", "--integration", "i")
    assert r.rc == 0, r
    assert json.loads(run("state", "k").stdout) == 1


def test_deployments(run, tmp_path, store):
    (tmp_path / "p" / "flows").mkdir(parents=True)
    (tmp_path / "p" / "instances").mkdir()
    (tmp_path / "p" / "flows" / "inspect.yaml").write_text(FLOWS)
    (tmp_path / "p" / "instances" / "staging.yaml").write_text(
        "instance: staging\nintegration: inspect\n")
    flows = tmp_path / "p" / "flows"
    r = run("deployments", "--store", store)
    assert r.rc == 0 and r.stdout == "", r
    r = run("deploy", flows, "--store", store)
    assert r.rc == 0, r
    r = run("deploy", flows, "--store", store, "--instance", "staging")
    assert r.rc == 0, r
    r = run("deployments", "--store", store)
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r
    assert " ok " in lines[0] and "inspect/staging" in lines[0], r
    assert "inspect/default" in lines[1], r
    r = run("deployments", "--store", store, "--json")
    got = r.json()
    assert [d["instance"] for d in got] == ["staging", "default"], got
    d = got[1]
    assert d["integration"] == "inspect" and d["outcome"] == "ok", d
    assert len(d["file_hash"]) == 64 and d["started_at"] <= d["finished_at"], d
    assert [f["flow"] for f in d["summary"]["flows"]] == ["setup"], d
    r = run("deployments", "--store", store, "--json", "--instance", "default")
    assert [x["instance"] for x in r.json()] == ["default"], r
    r = run("deployments", "--store", store, "--json", "--integration", "nope")
    assert r.json() == [], r


def test_runs_by_delivery(run, serve, flows, store):
    srv = serve(flows, "--store", store)
    ids = {}
    for n, key in enumerate(("gh-1", "gh-2", "gh-1")):
        r = srv.post("/hooks/inspect/hook", {"n": n},
                     headers={"X-Delivery-Id": key})
        assert r.status in (200, 202), r
        ids.setdefault(key, r.json()["execution"])

    def done():
        got = run("runs", "--json", "--store", store, "--flow", "hook").json()
        return len(got) == 2 and all(x["status"] == "ok" for x in got)
    wait_for(done, 30, "both deliveries to run")
    r = run("runs", "--json", "--store", store, "--delivery", "gh-1")
    assert [x["id"] for x in r.json()] == [ids["gh-1"]], r
    r = run("replay", ids["gh-1"], "--store", store, "--json")
    assert r.rc == 0, r
    replay = r.json()[0]["replay"]
    r = run("runs", "--json", "--store", store, "--delivery", "gh-1")
    assert sorted(x["id"] for x in r.json()) == sorted([ids["gh-1"], replay]), r
    r = run("runs", "--store", store, "--delivery", "gh-2")
    assert r.stdout.startswith(ids["gh-2"]) and len(r.stdout.splitlines()) == 1, r
    r = run("runs", "--json", "--store", store, "--delivery", ids["gh-1"])
    assert sorted(x["id"] for x in r.json()) == sorted([ids["gh-1"], replay]), r
    r = run("runs", "--json", "--store", store, "--delivery", "gh-3")
    assert r.json() == [], r
    srv.stop()
