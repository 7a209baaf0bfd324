"""Instance files: their errors point at the bad key or value."""

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
