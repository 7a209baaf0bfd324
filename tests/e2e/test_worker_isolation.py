"""serve runs executions in worker processes: a crash, a step that does not
stop after its timeout, or memory beyond --worker-memory ends that process
only; the execution fails saying what happened, serve keeps answering and
runs the next delivery with a new process (also after a restart)."""

import os
import signal

import pytest

from serving import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
FLOWS = os.path.join(HERE, "flows", "isolation.yaml")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def workers(srv):
    """The pids of serve's worker processes."""
    pids = []
    for task in os.listdir("/proc/%d/task" % srv.pid):
        try:
            with open("/proc/%d/task/%s/children" % (srv.pid, task)) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    found = []
    for p in pids:
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                if f.read().split(b"\0")[1:2] == [b"__worker"]:
                    found.append(p)
        except OSError:
            pass
    return found


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def show(run, ident):
    r = run("show", ident, "--json")
    return r.json() if r.rc == 0 else None


def wait_status(run, ident, status, timeout=60):
    def done():
        ex = show(run, ident)
        return ex if ex and ex["status"] == status else None
    return wait_for(done, timeout, "execution %s to be %s" % (ident, status),
                    interval=0.1)


def post(srv, flow, body=None):
    r = srv.post("/hooks/e2e-isolation/" + flow, body or {"n": 1})
    assert r.status == 202, r
    return r.json()["execution"]


def echo_works(srv, run):
    ident = post(srv, "echo", {"alive": True})
    ex = wait_status(run, ident, "ok")
    assert ex["trace"]["output"] == {"alive": True}


def busy_worker(srv, run):
    """The pid of the one worker process, once it burns CPU in the step
    just posted (loading the files takes far less)."""
    (pid,) = wait_for(lambda: workers(srv), 30, "a worker process")
    base = cpu_ticks(pid)
    wait_for(lambda: cpu_ticks(pid) >= base + CLK_TCK // 10, 60,
             "the worker process to run the step")
    return pid


def test_a_crashed_worker_fails_its_execution_only(serve, run):
    srv = serve(FLOWS, "--workers", "1")
    echo_works(srv, run)
    ident = post(srv, "churn")
    pid = busy_worker(srv, run)
    # under AddressSanitizer, its own SIGSEGV handler aborts, and the
    # abort is caught as a libjq assertion: kill it outright there
    sanitized = os.environ.get("FLOWRUN_SANITIZED") == "1"
    os.kill(pid, signal.SIGKILL if sanitized else signal.SIGSEGV)
    ex = wait_status(run, ident, "failed")
    crash = "signal 9 (Killed)" if sanitized else "signal 11 (Segmentation fault)"
    assert "worker killed: %s in step 'churn'" % crash in ex["error"], ex
    assert srv.running()
    assert srv.get("/healthz").status == 200
    echo_works(srv, run)
    assert pid not in workers(srv)
    metrics = srv.get("/metrics").text()
    assert "flowrun_worker_processes_lost_total 1" in metrics, metrics
    assert "flowrun_worker_processes_started_total 2" in metrics, metrics


def test_a_step_that_outlives_its_timeout_gets_its_worker_killed(serve, run):
    srv = serve(FLOWS, "--workers", "1")
    echo_works(srv, run)
    ident = post(srv, "spin")
    pid = busy_worker(srv, run)
    # stopped, the process cannot stop the step itself: as a loop inside
    # libjq that no in-process timeout reaches
    os.kill(pid, signal.SIGSTOP)
    ex = wait_status(run, ident, "failed")
    assert "step timeout: step 'spin' did not stop within 2 s" in ex["error"], ex
    assert not os.path.exists("/proc/%d/cmdline" % pid) or pid not in workers(srv)
    echo_works(srv, run)


@pytest.mark.skipif(os.environ.get("FLOWRUN_SANITIZED") == "1",
                    reason="the sanitizers' shadow memory rules out a memory limit")
def test_a_poison_delivery_is_tried_its_attempts_then_stays_failed(serve, run):
    srv = serve(FLOWS, "--workers", "1", "--worker-memory", "128MiB")
    ident = post(srv, "hog")
    ex = wait_status(run, ident, "failed", timeout=120)
    assert "memory limit: the worker process ran out of its 128 MiB in step 'hog'" \
        in ex["error"], ex
    assert ex["attempt"] == 2, ex          # retry: attempts 2
    srv.wait_log(r"failed \(try 1 of 2\)", timeout=5)
    echo_works(srv, run)
    srv.stop()
    # after a restart the poison stays failed and is not run again
    srv2 = serve(FLOWS, "--workers", "1", "--worker-memory", "128MiB")
    echo_works(srv2, run)
    assert show(run, ident)["status"] == "failed"
    assert show(run, ident)["attempt"] == 2
    assert ident not in srv2.log()


def test_worker_processes_end_with_serve(serve, run):
    srv = serve(FLOWS, "--workers", "2")
    echo_works(srv, run)
    pids = wait_for(lambda: workers(srv), 30, "worker processes")
    srv.signal(signal.SIGTERM)
    assert srv.wait(30) == 0
    for p in pids:
        wait_for(lambda: not os.path.exists("/proc/%d" % p) or
                 open("/proc/%d/stat" % p).read().split()[2] == "Z", 30,
                 "worker %d to end" % p)


def test_worker_processes_end_with_a_killed_serve(serve, run):
    srv = serve(FLOWS, "--workers", "1")
    echo_works(srv, run)
    (pid,) = wait_for(lambda: workers(srv), 30, "a worker process")
    srv.kill()
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
             open("/proc/%d/stat" % pid).read().split()[2] == "Z", 30,
             "worker %d to end" % pid)


def test_worker_memory_is_checked(run):
    r = run("serve", FLOWS, "--worker-memory", "1MiB")
    assert r.rc == 2, r
    assert "--worker-memory" in r.stderr


def test_a_worker_that_finds_the_files_changed_makes_serve_reload(serve, run,
                                                                  tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    src = open(FLOWS).read()
    (flows / "isolation.yaml").write_text(src)
    srv = serve(str(flows), "--workers", "1")
    echo_works(srv, run)
    # changed on disk, no SIGHUP: the running worker keeps what serve has
    (flows / "isolation.yaml").write_text(src.replace(
        "transform: .trigger.body", "transform: '{changed: .trigger.body}'"))
    echo_works(srv, run)
    (pid,) = workers(srv)
    os.kill(pid, signal.SIGKILL)
    # the next worker loads the new files, sees they are not serve's, and
    # serve reloads before anything runs on them
    ident = post(srv, "echo", {"alive": True})
    ex = wait_status(run, ident, "ok")
    assert ex["trace"]["output"] == {"changed": {"alive": True}}, ex
    srv.wait_log(r"the files changed since serve loaded them", timeout=5)
    srv.wait_log(r"reloaded: \d+ hook", timeout=5)
