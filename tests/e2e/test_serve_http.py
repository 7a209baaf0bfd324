"""`flowrun serve` as an outsider meets it over raw sockets: requests two
HTTP parsers could read two ways are refused (400), an unknown transfer
coding is 501, a chunked body is cut at max_body (413, connection closed),
a request with 500 query parameters is answered, and slow clients (a
slowloris of 2,000 connections) neither starve /healthz nor a real
delivery.  Every error answer is JSON, and never a 5xx but 501."""

import json
import re
import resource
import socket
import time

import pytest

from helpers import CONNECTORS, flow_file
from serving import wait_for

SERVE_FLOWS = flow_file("serve")
ECHO = b"/hooks/e2e-serve/echo"


def start(serve, *more):
    return serve(SERVE_FLOWS, "--connectors", CONNECTORS, *more)


def exchange(port, data, timeout=10):
    """Sends data on a new connection and reads until the server closes it
    or one whole answer (by its Content-Length) is in; (status, headers
    dict, body bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf, closed = b"", False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(rest) >= int(m.group(1)):
                    break
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            buf += d
        return parse(buf) + (closed,)
    finally:
        s.close()


def parse(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    assert sep, "no complete answer: %r" % buf[:500]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def post(extra_headers, body=b"{}", target=ECHO, line_end=b"\r\n"):
    lines = [b"POST " + target + b" HTTP/1.1", b"Host: 127.0.0.1",
             b"Content-Type: application/json"] + extra_headers
    return line_end.join(lines) + line_end + line_end + body


BAD_REQUESTS = {
    "duplicate Content-Length":
        post([b"Content-Length: 2", b"Content-Length: 2"]),
    "two different Content-Lengths":
        post([b"Content-Length: 2", b"Content-Length: 40"]),
    "Content-Length with Transfer-Encoding":
        post([b"Content-Length: 2", b"Transfer-Encoding: chunked"],
             b"2\r\n{}\r\n0\r\n\r\n"),
    "space before the colon":
        post([b"Content-Length : 2"]),
    "space before the colon of another header":
        post([b"X-Thing : 1", b"Content-Length: 2"]),
    "bare LF line ends":
        post([b"Content-Length: 2"], line_end=b"\n"),
    "one bare LF":
        post([b"X-Thing: 1\nContent-Length: 2"]),
    "obs-fold":
        post([b"X-Thing: a", b" folded", b"Content-Length: 2"]),
    "obs-fold with a tab":
        post([b"X-Thing: a", b"\tfolded", b"Content-Length: 2"]),
    "%00 in the path":
        post([b"Content-Length: 2"], target=ECHO + b"%00.json"),
    "%00 in /healthz":
        b"GET /healthz%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/1.1 without Host":
        b"GET /healthz HTTP/1.1\r\n\r\n",
}


# refused by libmicrohttpd itself, before serve sees the request: its own
# text body, not JSON (libmicrohttpd 0.9.75 has no way to change it)
REFUSED_BY_MHD = {
    "a Content-Length that is no number": post([b"Content-Length: 2x"]),
    "a chunk size that is no number":
        post([b"Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n"),
}


@pytest.fixture
def srv(serve):
    return start(serve)


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_ambiguous_requests_are_400(srv, run, case):
    status, headers, body, closed = exchange(srv.port, BAD_REQUESTS[case])
    assert status == 400, (case, status, body)
    assert headers.get("content-type") == "application/json", headers
    assert isinstance(json.loads(body)["error"], str)
    assert headers.get("connection", "").lower() == "close", headers
    # nothing was delivered, and serve still answers
    assert srv.get("/healthz").status == 200
    r = run("runs", "--json")
    assert r.rc == 0 and r.json() == [], r


@pytest.mark.parametrize("case", sorted(REFUSED_BY_MHD))
def test_malformed_requests_are_400(srv, case):
    status, _, body, _ = exchange(srv.port, REFUSED_BY_MHD[case])
    assert status == 400, (case, status, body)
    assert srv.get("/healthz").status == 200


def test_the_same_requests_done_right_are_accepted(srv):
    for data in (post([b"Content-Length: 2"]),
                 post([b"Transfer-Encoding: chunked"], b"2\r\n{}\r\n0\r\n\r\n"),
                 post([b"X-Empty:", b"X-Spaces:   a b  ", b"Content-Length: 2"]),
                 b"GET /healthz HTTP/1.0\r\n\r\n"):
        status, _, body, _ = exchange(srv.port, data)
        assert status in (200, 202), (data, status, body)


@pytest.mark.parametrize("te", [b"gzip", b"gzip, chunked", b"identity",
                                b"chunked, chunked"])
def test_unsupported_transfer_encoding_501(srv, te):
    status, headers, body, _ = exchange(
        srv.port, post([b"Transfer-Encoding: " + te], b"2\r\n{}\r\n0\r\n\r\n"))
    assert status == 501, (te, status, body)
    assert headers.get("content-type") == "application/json"
    assert "Transfer-Encoding" in json.loads(body)["error"]


def test_endless_chunked_body_is_cut_at_max_body_413(srv):
    """echo takes 1 KiB: the answer comes after about that much, not after
    the sender gives up, and the connection is closed."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(post([b"Transfer-Encoding: chunked"], b""))
    chunk = b"400\r\n" + b"a" * 0x400 + b"\r\n"
    sent, answer = 0, b""
    s.settimeout(0.05)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and sent < (256 << 20):
            try:
                s.sendall(chunk)
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                d = s.recv(65536)
                if not d:
                    break
                answer += d
            except socket.timeout:
                pass
        s.settimeout(10)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                answer += d
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    status, headers, body = parse(answer)
    assert status == 413, answer
    assert json.loads(body) == {"error": "request body too large"}
    assert headers.get("connection", "").lower() == "close"
    assert sent < (64 << 20), "read %d bytes before answering" % sent
    assert srv.get("/healthz").status == 200


def test_500_query_parameters_are_answered(srv, run):
    q = b"&".join(b"p%d=%d" % (i, i) for i in range(500))
    status, _, body, _ = exchange(srv.port, b"GET /healthz?" + q +
                                  b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200, body
    status, _, body, _ = exchange(
        srv.port, post([b"Content-Length: 2"], target=ECHO + b"?" + q))
    assert status == 202, body
    ident = json.loads(body)["execution"]

    def shown():
        r = run("show", ident, "--json")
        return r.json() if r.rc == 0 and r.json().get("status") == "ok" else None
    ex = wait_for(shown, 20, "the execution of the 500-parameter delivery")
    assert ex["status"] == "ok"


def test_slow_headers_are_cut_at_the_header_timeout(serve):
    srv = start(serve, "--header-timeout", "500ms")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(b"POST /hooks/e2e-serve/echo HTTP/1.1\r\n")
    t0 = time.monotonic()
    s.settimeout(30)
    closed = False
    try:
        while time.monotonic() - t0 < 30:
            s.sendall(b"X-a: b\r\n")     # a byte now and then: never idle
            try:
                s.settimeout(0.2)
                if s.recv(100) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    s.close()
    assert closed, "a client trickling headers was never cut off"
    assert srv.get("/healthz").status == 200


def test_connections_per_client_address_are_capped(serve):
    srv = start(serve, "--max-connections-per-client", "5")
    socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=10)
             for _ in range(8)]
    try:
        def refused():
            n = 0
            for s in socks:
                s.settimeout(0.01)
                try:
                    if s.recv(1) == b"":
                        n += 1
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    n += 1
            return n >= 3
        wait_for(refused, 10, "connections beyond the cap to be closed")
        # another address is another client
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10,
                                     source_address=("127.0.0.2", 0))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(10)
        assert s.recv(100).startswith(b"HTTP/1.1 200")
        s.close()
    finally:
        for s in socks:
            s.close()


def test_slowloris_2000_connections(serve):
    """2,000 connections that send a partial request slowly, from ten
    loopback addresses (the per-address cap would refuse them from one),
    while /healthz answers and a real webhook is accepted and runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2400:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    srv = start(serve, "--max-connections-per-client", "256")
    socks = []
    try:
        for i in range(2000):
            s = socket.socket()
            s.bind(("127.0.0.%d" % (2 + i % 10), 0))
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", srv.port))
            except BlockingIOError:
                pass
            socks.append(s)
        for round_ in range(3):
            for s in socks:
                try:
                    s.send(b"POST /hooks/e2e-serve/echo HTTP/1.1\r\n"
                           if round_ == 0 else b"X: y\r\n")
                except OSError:
                    pass
            r = srv.get("/healthz", timeout=10)
            assert r.status == 200, r
        r = srv.post("/hooks/e2e-serve/echo", {"slow": "loris"}, timeout=10)
        assert r.status == 202, r
        m = srv.get("/metrics", timeout=10)
        assert m.status == 200
    finally:
        for s in socks:
            s.close()
    assert srv.running()


def test_large_headers_in_small_pieces_are_accepted(srv):
    """The bare-LF and obs-fold checks read libmicrohttpd's parsed header
    block: 24 KB of headers arriving 97 bytes at a time pass them."""
    hdrs = [b"X-H%d: %s" % (i, b"v" * 150) for i in range(150)]
    req = post(hdrs + [b"Content-Length: 2", b"Connection: close"])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    try:
        for i in range(0, len(req), 97):
            s.sendall(req[i:i + 97])
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    finally:
        s.close()
    status, _, body = parse(buf)
    assert status == 202, body
