"""Config values read from files: a declared `file:`, NAME_FILE beside
`env: NAME`, and --set KEY=@PATH.  A value read for a secret is redacted
everywhere; a file that cannot be read is a configuration error (rc 4)."""

import pathlib
import secrets
import signal

import pytest

from helpers import API_KEY, account_input, add_accounts, example_args
from serving import hmac_hex

FLOW = """\
integration: sf
config:
  plain: {env: SF_PLAIN, default: plain-default}
  token: {secret: true, env: SF_TOKEN, file: secrets/token.txt}
flows:
  main:
    steps:
      - log: "plain=${{ .config.plain }} token=${{ .config.token }}"
      - set: { plain: "${{ .config.plain }}" }
"""


@pytest.fixture
def token():
    return "tok-" + secrets.token_hex(12)


@pytest.fixture
def project(tmp_path, token):
    """flows/sf.yaml (its set step keeps plain in the state, never the
    token: the state holds what it is given), its token in flows/secrets/token.txt (relative to the
    flow file, not to the working directory)."""
    flows = tmp_path / "flows"
    (flows / "secrets").mkdir(parents=True)
    (flows / "sf.yaml").write_text(FLOW)
    (flows / "secrets" / "token.txt").write_text(token + "\n")
    return flows / "sf.yaml"


def run_sf(run, project, *more, **kw):
    return run("run", project, "--flow", "main", "--json", *more, **kw)


def output(r):
    assert r.rc == 0, r
    return r.json()["output"]


def logged(r):
    """The text of the log step in the --json trace."""
    assert r.rc == 0, r
    return r.json()["steps"][0]["output"]


def assert_absent(text, value):
    assert value not in text
    assert value[4:-4] not in text


def test_declared_file_supplies_the_secret(run, project, token):
    r = run_sf(run, project)
    assert logged(r).endswith(" token=***")
    assert "token=***" in r.stdout
    assert_absent(r.stdout + r.stderr, token)


def test_one_trailing_newline_stripped(run, project, tmp_path):
    (tmp_path / "v.txt").write_text("two\n\n")
    r = run_sf(run, project, "--set", "plain=@v.txt")
    assert output(r)["plain"] == "two\n"
    (tmp_path / "v.txt").write_text("crlf\r\n")
    r = run_sf(run, project, "--set", "plain=@v.txt")
    assert output(r)["plain"] == "crlf"


def test_name_file_supplies_the_value(run, project, tmp_path):
    (tmp_path / "plain.txt").write_text("from-name-file\n")
    r = run_sf(run, project, env={"SF_PLAIN_FILE": "plain.txt"})
    assert output(r)["plain"] == "from-name-file"


def test_name_file_for_a_secret_is_redacted(run, project, tmp_path):
    other = "tok-" + secrets.token_hex(12)
    (tmp_path / "tok").write_text(other)
    r = run_sf(run, project, env={"SF_TOKEN_FILE": str(tmp_path / "tok")})
    assert logged(r).endswith(" token=***")
    assert_absent(r.stdout + r.stderr, other)


def test_name_and_name_file_both_set_is_an_error(run, project, tmp_path):
    (tmp_path / "plain.txt").write_text("x\n")
    r = run_sf(run, project, env={"SF_PLAIN": "y", "SF_PLAIN_FILE": "plain.txt"})
    assert r.rc == 4, r
    assert "SF_PLAIN and SF_PLAIN_FILE" in r.stderr
    assert "'plain'" in r.stderr


def test_set_at_path_reads_the_file(run, project, tmp_path):
    (tmp_path / "v.txt").write_text("from-set-file\n")
    r = run_sf(run, project, "--set", "plain=@v.txt")
    assert output(r)["plain"] == "from-set-file"


def test_set_double_at_is_a_literal_at(run, project):
    r = run_sf(run, project, "--set", "plain=@@v.txt")
    assert output(r)["plain"] == "@v.txt"


def test_set_beats_name_file_and_declared_file(run, project, tmp_path, token):
    other = "tok-" + secrets.token_hex(12)
    (tmp_path / "mine").write_text(other + "\n")
    (tmp_path / "env").write_text("from-env-file")
    r = run_sf(run, project, "--set", "token=@mine",
               env={"SF_TOKEN_FILE": "env"})
    assert logged(r).endswith(" token=***")
    assert_absent(r.stdout + r.stderr, other)
    assert_absent(r.stdout + r.stderr, token)


@pytest.mark.parametrize("how", ["declared", "name_file", "set"])
def test_unreadable_file_is_a_config_error(run, project, tmp_path, token, how):
    missing = tmp_path / "nope" / "missing.txt"
    env, more = {}, []
    if how == "declared":
        (tmp_path / "flows" / "secrets" / "token.txt").unlink()
        missing = "flows/secrets/token.txt"
    elif how == "name_file":
        env = {"SF_TOKEN_FILE": str(missing)}
    else:
        more = ["--set", "token=@%s" % missing]
    r = run_sf(run, project, *more, env=env)
    assert r.rc == 4, r
    assert "config value 'token'" in r.stderr
    assert str(missing) in r.stderr
    assert_absent(r.stdout + r.stderr, token)


def test_a_directory_is_unreadable(run, project, tmp_path):
    r = run_sf(run, project, "--set", "plain=@%s" % tmp_path)
    assert r.rc == 4, r
    assert "'plain'" in r.stderr and str(tmp_path) in r.stderr


@pytest.mark.parametrize("what", ["too-large", "nul"])
def test_a_large_or_binary_file_is_a_config_error(run, project, token, what):
    path = project.parent / "secrets" / "token.txt"
    if what == "too-large":
        path.write_text(token + "x" * (1024 * 1024))
    else:
        path.write_bytes(token.encode() + b"\0\n")
    r = run_sf(run, project)
    assert r.rc == 4, r
    assert "config value 'token'" in r.stderr
    assert "flows/secrets/token.txt" in r.stderr
    assert ("too large" if what == "too-large" else "NUL") in r.stderr
    assert_absent(r.stdout + r.stderr, token)


def test_set_lone_at_names_no_file(run, project):
    r = run_sf(run, project, "--set", "plain=@")
    assert r.rc == 4, r
    assert "--set plain=@ names no file" in r.stderr


def test_secret_from_file_absent_from_traces_show_and_json_logs(
        run, project, token, tmp_path, base_env):
    for opts in ([], ["-vv"], ["-vv", "--log-format", "json"]):
        r = run("run", project, "--flow", "main", *opts)
        assert r.rc == 0, r
        assert_absent(r.stdout + r.stderr, token)
    r = run_sf(run, project, "-v")
    ex = r.json()["execution"]
    shown = run("show", ex)
    assert shown.rc == 0, shown
    assert_absent(shown.stdout + shown.stderr, token)
    shown = run("show", ex, "--json")
    assert shown.rc == 0, shown
    assert_absent(shown.stdout, token)
    listed = run("runs", "--json")
    assert listed.rc == 0 and ex in listed.stdout, listed
    assert_absent(listed.stdout + listed.stderr, token)
    store = pathlib.Path(base_env["FLOWRUN_STORE"][len("sqlite:"):])
    for f in store.parent.glob(store.name + "*"):
        assert token.encode() not in f.read_bytes(), f


def test_validate_checks_the_file_key(run, tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "sf.yaml").write_text(FLOW.replace("file:", "fille:"))
    r = run("validate", flows / "sf.yaml")
    assert r.rc == 3, r
    assert "sf.yaml:4:" in r.stderr
    assert "did you mean 'file'" in r.stderr
    (flows / "sf.yaml").write_text(FLOW.replace("secrets/token.txt", "''"))
    r = run("validate", flows / "sf.yaml")
    assert r.rc == 3, r
    assert "sf.yaml:4:" in r.stderr and "'file'" in r.stderr
    (flows / "sf.yaml").write_text(FLOW.replace("file:", "default: x, file:"))
    r = run("validate", flows / "sf.yaml")
    assert r.rc == 3, r
    assert "sf.yaml:4:" in r.stderr
    assert "both 'default' and 'file'" in r.stderr


def test_validate_does_not_read_the_file(run, project):
    (project.parent / "secrets" / "token.txt").unlink()
    r = run("validate", project)
    assert r.rc == 0, r


def test_example_api_key_from_name_file(run, progix, slack, tmp_path):
    """The example's progix_api_key (env: PROGIX_API_KEY) from
    PROGIX_API_KEY_FILE: the stand-in accepts the key read from it."""
    (tmp_path / "key").write_text(API_KEY + "\n")
    ids = add_accounts(progix, {"name": "Acme", "contact": "Ada",
                                "email": "ada@acme.test"})
    r = run("run", *example_args(progix, slack), "--flow", "account",
            "--input", account_input(*ids),
            env={"PROGIX_API_KEY_FILE": str(tmp_path / "key")},
            unset=["PROGIX_API_KEY"])
    assert r.rc == 0, r
    assert API_KEY not in r.stdout + r.stderr


HOOK = """\
integration: sfs
config:
  hook_secret: {secret: true, file: hook.secret}
flows:
  hook:
    trigger:
      webhook:
        verify:
          scheme: hmac-sha256
          header: X-Signature
          prefix: "sha256="
          secret: "${{ .config.hook_secret }}"
    steps:
      - transform: .trigger.body
"""


def test_serve_reads_the_declared_file_at_start_and_on_sighup(
        run, serve, tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "sfs.yaml").write_text(HOOK)
    r = run("serve", "--listen", "127.0.0.1:0", flows / "sfs.yaml", timeout=20)
    assert r.rc == 4, r
    assert "'hook_secret'" in r.stderr and "flows/hook.secret" in r.stderr

    first, second = ("hs-" + secrets.token_hex(12) for _ in range(2))
    (flows / "hook.secret").write_text(first + "\n")
    srv = serve(flows / "sfs.yaml")
    body = b'{"event":"ping"}'

    def post(secret):
        return srv.post("/hooks/sfs/hook", body, {
            "Content-Type": "application/json",
            "X-Signature": "sha256=" + hmac_hex(secret, body)}).status

    assert post(first) == 202
    assert post(second) == 401
    (flows / "hook.secret").write_text(second)
    mark = len(srv.log())
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reloaded", after=mark)
    assert post(second) == 202
    assert post(first) == 401
    assert srv.stop() == 0
    for secret in (first, second):
        assert_absent(srv.log(), secret)
