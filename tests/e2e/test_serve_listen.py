"""serve --listen takes IPv6 addresses in brackets and host names."""

import http.client
import re
import socket
import subprocess
import time

from helpers import flow_file


def ipv6_loopback_or_why():
    """None when ::1 can be bound here, else the reason it cannot."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return None
    except OSError as e:
        return "cannot bind [::1]:0 on this machine (%s): IPv6 loopback missing" % e


def serve_on(flowrun_bin, env, cwd, listen):
    """Starts serve --listen LISTEN; (process, port) once it says its port."""
    log = open(str(cwd / ("serve-%d.log" % time.monotonic_ns())), "w+")
    p = subprocess.Popen([flowrun_bin, "serve", "--listen", listen, flow_file("tick")],
                         cwd=str(cwd), env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log.seek(0)
        m = re.search(r"serving on port (\d+)", log.read())
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    p.wait()
    log.seek(0)
    raise AssertionError("serve --listen %s did not start:\n%s" % (listen, log.read()))


def healthz(host, port):
    c = http.client.HTTPConnection(host, port, timeout=10)
    try:
        c.request("GET", "/healthz")
        return c.getresponse().status
    finally:
        c.close()


def stop(p):
    p.terminate()
    assert p.wait(timeout=20) == 0


def test_listen_on_ipv6_loopback(flowrun_bin, base_env, tmp_path):
    why = ipv6_loopback_or_why()
    assert why is None, why
    p, port = serve_on(flowrun_bin, base_env, tmp_path, "[::1]:0")
    try:
        assert port > 0
        assert healthz("::1", port) == 200
        # bound to ::1 only: 127.0.0.1 is not it
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        stop(p)


def test_listen_on_a_host_name(flowrun_bin, base_env, tmp_path):
    p, port = serve_on(flowrun_bin, base_env, tmp_path, "localhost:0")
    try:
        assert healthz("127.0.0.1", port) == 200   # localhost: its IPv4 address
    finally:
        stop(p)


def test_listen_errors(flowrun_bin, base_env, tmp_path):
    for listen, want in (("::1:0", "write an IPv6 address in brackets, as [::1]:0"),
                         ("no-such-host.invalid:0", "cannot resolve 'no-such-host.invalid'")):
        r = subprocess.run([flowrun_bin, "serve", "--listen", listen, flow_file("tick")],
                           cwd=str(tmp_path), env=base_env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode != 0, (listen, r.stderr)
        assert want in r.stderr, (listen, r.stderr)
