"""Start-up order on the real binary: a check that needs no side effect
comes before the first side effect, and with -f every start-up error is
reported, with a non-zero status, before the foreground command returns.
"""
import os
import resource
import signal
import socket
import subprocess
import uuid

from conftest import _autossh_bin, wait_for

RUNNING = ["forever 0"]


def procs_with(token):
    """Pids of live processes whose command line holds token."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if token.encode() in cmd:
            out.append(int(d))
    return out


def free_port_pair():
    """A socket holding 127.0.0.1:p+1, and p: the loop-mode monitor's
    reply port taken, so that autossh would fail if it tried to bind it."""
    for _ in range(50):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        p = probe.getsockname()[1]
        probe.close()
        if p >= 65535:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p + 1))
        except OSError:
            s.close()
            continue
        s.listen(1)
        return s, p
    raise RuntimeError("no free port pair on 127.0.0.1")


def test_wait_without_f_touches_nothing(run):
    held, port = free_port_pair()
    pidfile = run.tmp / "x.pid"
    try:
        rc = run.run(["--wait", f"-M{port}", "-N", "Broker"], RUNNING,
                     AUTOSSH_PIDFILE=str(pidfile))
    finally:
        held.close()
    assert rc == 1
    # Exactly this message: had the monitor port been tried first, the
    # held reply port would have made it a bind error instead.
    assert run.stderr() == \
        "autossh: error: --wait (AUTOSSH_WAIT) works with -f only\n"
    assert not pidfile.exists()
    assert not run.logfile.exists()
    assert run.queries() == 0
    assert run.starts() == []


def test_start_error_leaves_no_pidfile(run):
    # The pidfile is opened before the monitor port: an error in between
    # must take the file away again.
    held, port = free_port_pair()
    pidfile = run.tmp / "x.pid"
    try:
        rc = run.run([f"-M{port}", "-N", "Broker"], RUNNING,
                     AUTOSSH_PIDFILE=str(pidfile))
    finally:
        held.close()
    assert rc == 1
    assert f"127.0.0.1:{port + 1}" in run.stderr()
    assert not pidfile.exists()
    assert run.starts() == []


def test_f_unwritable_pidfile_fails_in_the_foreground(run):
    # RLIMIT_FSIZE 0 makes every write to a regular file fail (EFBIG once
    # SIGXFSZ is ignored), while opening and locking still work: a pidfile
    # on a full disk.  Standard error is a pipe, which the limit spares.
    token = f"Broker-{uuid.uuid4().hex}"
    pidfile = run.tmp / "x.pid"

    def no_file_growth():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    # The stand-in's own records would die of the limit too (its SIGXFSZ
    # is reset): leave them out and look for processes instead.
    env = run.env(AUTOSSH_PIDFILE=str(pidfile), AUTOSSH_LOGFILE=None,
                  FAKESSH_LOG=None, FAKESSH_GLOG=None, FAKESSH_COUNT=None)
    r = subprocess.run([str(_autossh_bin()), "-M0", "-f", "-N", token],
                       env=env, cwd=run.tmp, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=20,
                       preexec_fn=no_file_growth)
    assert r.returncode == 1, r.stderr
    assert f"AUTOSSH_PIDFILE: unable to write {pidfile}: File too large" \
        in r.stderr
    assert not pidfile.exists()
    # No daemon: nothing with our destination runs, now or a bit later.
    assert not wait_for(lambda: procs_with(token), timeout=1)


def test_f_returns_once_the_daemon_wrote_its_pid(run):
    # The foreground writes its own pid to prove the file writable; by
    # the time it returns the daemon must have put its own there.
    token = f"Broker-{uuid.uuid4().hex}"
    pidfile = run.tmp / "x.pid"
    try:
        rc = run.run(["-M0", "-f", "-N", token], RUNNING,
                     AUTOSSH_PIDFILE=str(pidfile))
        assert rc == 0
        pid = int(pidfile.read_text())
        assert pid != run.proc.pid
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert run.wait_starts(1)
        # ssh still starts where the user was, for relative paths in its
        # options.
        ssh = run.starts()[0][1]
        assert os.readlink(f"/proc/{ssh}/cwd") == str(run.tmp)
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: not pidfile.exists())
    finally:
        # Whatever failed, no daemon may outlive the test.
        for p in procs_with(token):
            try:
                if os.readlink(f"/proc/{p}/exe").endswith("autossh"):
                    os.kill(p, signal.SIGTERM)
            except OSError:
                pass
        wait_for(lambda: not procs_with(token))


def test_pidfile_must_be_a_regular_file(run):
    # A start that fails unlinks its pidfile: it must never have taken
    # a fifo or a device (say /dev/full) for one.
    fifo = run.tmp / "x.pid"
    os.mkfifo(fifo)
    rc = run.run(["-M0", "-N", "Broker"], RUNNING,
                 AUTOSSH_PIDFILE=str(fifo))
    assert rc == 1
    assert f"AUTOSSH_PIDFILE: refusing {fifo}: not a regular file" \
        in run.stderr()
    assert fifo.is_fifo()
    assert run.starts() == []


def test_closed_stdio_is_filled_before_anything_is_opened(run):
    # Started with 0, 1 and 2 closed: whatever autossh opens first (the
    # log file here) would land on them, and ssh would write its errors
    # into it.  They must be /dev/null before anything else is opened.
    def close_stdio():
        for fd in (0, 1, 2):
            os.close(fd)

    run.plan.write_text("forever 0\n")
    run.proc = subprocess.Popen(
        [str(_autossh_bin()), "-M0", "-N", "Broker"], env=run.env(),
        cwd=run.tmp, preexec_fn=close_stdio)
    assert run.wait_starts(1), run.log()
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{run.proc.pid}/fd/{fd}") == "/dev/null"
    logfd = [fd for fd in os.listdir(f"/proc/{run.proc.pid}/fd")
             if os.readlink(f"/proc/{run.proc.pid}/fd/{fd}") ==
             str(run.logfile)]
    assert logfd and min(int(fd) for fd in logfd) > 2, logfd
