"""Loading a project: instance files, connector directories."""

import os

import serving

FLOW = """integration: typed
config:
  channel: { type: string }
  retries: { type: number, default: 3 }
flows:
  main:
    steps:
      - log: "${{ .config.channel }} ${{ .config.retries }}"
"""

INSTANCE = """instance: acme
integration: typed
config:
  channel: "#acme"
  chanel: "#typo"
  retries: "three"
"""


def test_instance_errors_point_at_the_bad_key_and_value(run, tmp_path):
    flow = tmp_path / "typed.yaml"
    flow.write_text(FLOW)
    flows = serving.make_project(str(tmp_path / "p"), str(flow),
                                 instances={"acme": INSTANCE}, connectors=False)
    r = run("validate", flows)
    assert r.rc == 3, r
    inst = os.path.join(os.path.dirname(flows), "instances", "acme.yaml")
    # line 5 is chanel:, line 6 retries: (column 12 is its value)
    assert ("%s:5:3: error: unknown config variable 'chanel'; did you mean "
            "'channel'?" % inst) in r.stderr, r
    assert ("%s:6:12: error: config value 'retries' must be number, not a "
            "string" % inst) in r.stderr, r
    assert "%s:2:" % inst not in r.stderr, r     # not the integration: line
    # run loads the same files: it stops on them before anything runs
    r = run("run", flows, "--flow", "main", "--instance", "acme")
    assert r.rc == 3, r
    assert "%s:5:3:" % inst in r.stderr, r


def test_a_connector_directory_given_twice_is_read_once(run, tmp_path):
    # flows/ under the test's directory (run's cwd): its connectors are
    # ./connectors; the same directory given again by other names is the
    # same directory, not a second definition of every connector
    serving.make_project(str(tmp_path), serving.EXAMPLE)
    for args, env in ((["--connectors", "connectors"], {}),
                      (["--connectors", str(tmp_path / "connectors")], {}),
                      (["--connectors", "./connectors/"], {}),
                      ([], {"FLOWRUN_CONNECTORS": "connectors:%s" % (tmp_path / "connectors")})):
        r = run("validate", "flows", *args, env=env)
        assert r.rc == 0, (args, env, r)
        assert "also defined" not in r.stderr, (args, env, r)
        assert "0 warnings" in r.stdout, (args, env, r)
    # a real second definition still warns
    other = tmp_path / "more"
    other.mkdir()
    (other / "slack.yaml").write_text((tmp_path / "connectors" / "slack.yaml").read_text())
    r = run("validate", "flows", "--connectors", str(other))
    assert r.rc == 0, r
    assert "connector 'slack' is also defined in" in r.stderr, r
