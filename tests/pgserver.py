"""A real PostgreSQL server for the tests, in a temporary directory.

    server = pgserver.start()      # initdb, postgres on a free port
    server.url                     # postgresql://postgres@127.0.0.1:PORT/flowrun
    server.stop()                  # by pid; the directory is removed

As a wrapper (meson runs the store's unit test so):

    python3 tests/pgserver.py -- CMD ARGS...

starts a server, runs CMD with FLOWRUN_TEST_PG=URL, stops the server and
exits with CMD's status.  When no server can be started, CMD still runs,
with FLOWRUN_TEST_PG unset and FLOWRUN_TEST_PG_ERROR saying why, so that
its PostgreSQL tests fail with the reason (they are never skipped).

Debian's server binaries live in /usr/lib/postgresql/VERSION/bin.  When the
tests run as root, initdb and postgres run as the `postgres` user
(setpriv), and the directory is made theirs.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DATABASE = "flowrun"


class Error(Exception):
    """The server could not be started; the message says why."""


def bindir():
    """The directory of initdb and postgres, newest version first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else 0
                                  for x in p.split("/")[4].split(".")],
                   reverse=True)
    if found:
        return os.path.dirname(found[0])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise Error("no initdb found (install Debian's postgresql package: "
                "/usr/lib/postgresql/*/bin/initdb)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres():
    """The command prefix that runs a program as the postgres user when we
    are root (PostgreSQL refuses to run as root); else nothing."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise Error("running as root and there is no postgres user to run "
                    "the server as") from None
    # setpriv execs the program: the pid we hold is the server's own
    return ["setpriv", "--reuid=postgres", "--regid=postgres",
            "--init-groups", "--"]


class Server:
    def __init__(self, directory, port, proc, bin_dir):
        self.directory, self.port, self.proc = directory, port, proc
        self.pid = proc.pid
        self.bin = bin_dir
        self.url = "postgresql://postgres@127.0.0.1:%d/%s" % (port, DATABASE)

    def admin_url(self, database="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, database)

    def create_database(self, name):
        """A new, empty database; returns its URL."""
        _run([os.path.join(self.bin, "createdb"), "-h", "127.0.0.1", "-p",
              str(self.port), "-U", "postgres", name], "createdb " + name)
        return self.admin_url(name)

    def pause(self):
        """Stops the server by its pid (fast shutdown), keeping its data."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGINT)
            self.proc.wait(timeout=60)

    def resume(self, deadline_s=120):
        """Starts the server again on the same port and data."""
        self.proc = _postgres(self.bin, os.path.join(self.directory, "data"),
                              self.directory, self.port, _as_postgres())
        self.pid = self.proc.pid
        _wait_ready(self, deadline_s)

    def log(self):
        try:
            with open(os.path.join(self.directory, "server.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        """Stops the server by its pid (fast shutdown, then SIGKILL) and
        removes its directory."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=60)
        shutil.rmtree(self.directory, ignore_errors=True)


def _run(argv, what):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=dict(os.environ, LC_ALL="C"))
    if r.returncode != 0:
        raise Error("%s failed (exit %d): %s" % (what, r.returncode,
                                                 r.stdout.strip()[-2000:]))


def _postgres(bin_dir, data, directory, port, prefix):
    with open(os.path.join(directory, "server.log"), "a") as log:
        return subprocess.Popen(
            prefix + [os.path.join(bin_dir, "postgres"), "-D", data,
                      "-k", directory, "-p", str(port),
                      "-c", "listen_addresses=127.0.0.1",
                      "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, LC_ALL="C"))


def start(tmpdir=None, deadline_s=120):
    """Starts a server in a new directory under tmpdir (under /tmp when we
    run as root, so that the postgres user can reach it); returns it."""
    bin_dir = bindir()
    prefix = _as_postgres()
    parent = None if prefix else tmpdir
    directory = tempfile.mkdtemp(prefix="flowrun-pg-", dir=parent)
    data = os.path.join(directory, "data")
    try:
        if prefix:
            ent = pwd.getpwnam("postgres")
            os.chown(directory, ent.pw_uid, ent.pw_gid)
        _run(prefix + [os.path.join(bin_dir, "initdb"), "-D", data, "-U",
                       "postgres", "-A", "trust", "-E", "UTF8",
                       "--locale=C", "--no-sync"], "initdb")
        last = None
        for _ in range(5):  # another program may take the port meanwhile
            port = free_port()
            proc = _postgres(bin_dir, data, directory, port, prefix)
            server = Server(directory, port, proc, bin_dir)
            try:
                _wait_ready(server, deadline_s)
                break
            except Error as e:
                last = e
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        else:
            raise last
        _run([os.path.join(bin_dir, "createdb"), "-h", "127.0.0.1", "-p",
              str(server.port), "-U", "postgres", DATABASE], "createdb")
        return server
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _wait_ready(server, deadline_s):
    deadline = time.monotonic() + deadline_s
    isready = os.path.join(server.bin, "pg_isready")
    while True:
        if server.proc.poll() is not None:
            raise Error("postgres exited with %s: %s"
                        % (server.proc.returncode, server.log()))
        r = subprocess.run([isready, "-q", "-h", "127.0.0.1", "-p",
                            str(server.port), "-U", "postgres"])
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise Error("postgres did not accept connections within %d s: %s"
                        % (deadline_s, server.log()))
        time.sleep(0.1)


def main(argv):
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        sys.stderr.write("usage: pgserver.py -- CMD [ARGS...]\n")
        return 2
    cmd = argv[argv.index("--") + 1:]
    env = dict(os.environ)
    server = None
    try:
        server = start()
        env["FLOWRUN_TEST_PG"] = server.url
        env.pop("FLOWRUN_TEST_PG_ERROR", None)
    except (Error, OSError) as e:
        env.pop("FLOWRUN_TEST_PG", None)
        env["FLOWRUN_TEST_PG_ERROR"] = "no PostgreSQL server: %s" % e
        sys.stderr.write("pgserver: %s\n" % env["FLOWRUN_TEST_PG_ERROR"])
    try:
        return subprocess.call(cmd, env=env)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
