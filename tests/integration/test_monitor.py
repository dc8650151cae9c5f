"""The port monitor (-M, DESIGN.md §Port monitor) against the lab's real sshd.

Loop mode (-M 20000) sends the message out through ssh's -L 20000 and gets it
back from the server's -R 20000 on our 127.0.0.1:20001; echo mode
(-M 20000:7777) has an echo service in the server namespace send it back on
the same connection. Tests poll every 3 s (network timeout 1.5 s) so that a
failure is seen within seconds; the liveness layer is given a long deadline so
that what notices a fault is the monitor.
"""

import re
import signal
import socket
import threading
import time

import pytest

import lab as labmod

MON = 20000
ECHO = 7777
POLL_S = 3
NET_TIMEOUT_S = POLL_S / 2
KILL_GRACE_S = 5
FAST = {"AUTOSSH_POLL": str(POLL_S), "AUTOSSH_FIRST_POLL": "1",
        "AUTOSSH_GATETIME": "0"}
# From a fault to the failed test: the next test and its one timeout,
# which a retry shares.
DETECT_S = POLL_S + NET_TIMEOUT_S
SLACK_S = 10
PASSED = "monitor test passed"
FAILED = "monitor test failed"

def count(prog, text):
    return prog.log_text().count(text)


def wait_log(prog, text, timeout, times=1):
    """Wait until text is in the program's log times times; the seconds it
    took, or None."""
    start = time.monotonic()
    if labmod.wait_for(lambda: count(prog, text) >= times, timeout, 0.1):
        return time.monotonic() - start
    return None


@pytest.fixture
def echo_service(lab, tmp_path):
    """A line echo service on the server namespace's 127.0.0.1:7777; yields
    the path of the file that records what it received."""
    received = tmp_path / "echo.log"
    received.write_bytes(b"")
    p = lab.start_echo("server", ECHO, str(received))
    try:
        yield received
    finally:
        lab.terminate(p)
        p.stdout.close()


def start_loop(autossh, extra_env=None, args=()):
    env = {**FAST, **(extra_env or {})}
    return autossh(["-M", str(MON), *args, "-N", "Broker"], env=env)


def start_echo(autossh, extra_env=None):
    env = {**FAST, **(extra_env or {})}
    return autossh(["-M", f"{MON}:{ECHO}", "-N", "Broker"], env=env)


@pytest.mark.timeout(60)
def test_loop_mode_passes_tests(lab, autossh, fd_check):
    prog = start_loop(autossh)
    # Signals arriving during tests do not disturb them.
    stop = threading.Event()

    def prod():
        while not stop.wait(0.05):
            prog.signal(signal.SIGUSR2)

    t = threading.Thread(target=prod, daemon=True)
    t.start()
    try:
        assert wait_log(prog, PASSED, 15, times=3) is not None, prog.log_text()
    finally:
        stop.set()
        t.join(5)
    assert prog.log_text().count("state: ") > 20
    assert lab.wait_tunnel(10) is not None
    # One ssh all along, and no test failed.
    assert len(prog.ssh_pids()) == 1
    assert FAILED not in prog.log_text()
    assert "retrying" not in prog.log_text()
    # A passed test proves the tunnel up, -R included.
    assert "tunnel up after" in prog.log_text()
    # The listener is ours, on loopback only.
    r = lab.client_run(["ss", "-Htlnp", "sport", "=", f":{MON + 1}"])
    assert f"127.0.0.1:{MON + 1}" in r.stdout and f"pid={prog.pid}," in r.stdout
    assert r.stdout.count("LISTEN") == 1, r.stdout
    # ssh inherits none of the monitor's sockets.
    assert fd_check(prog) == []


@pytest.mark.timeout(60)
def test_echo_mode_passes_tests(lab, autossh, echo_service):
    text = "lab echo test " + "x" * 50  # 64 bytes, the most allowed
    assert len(text) == 64
    prog = start_echo(autossh, {"AUTOSSH_MESSAGE": text})
    assert wait_log(prog, PASSED, 15, times=3) is not None, prog.log_text()
    assert lab.wait_tunnel(10) is not None
    assert FAILED not in prog.log_text()
    # 1.4's shape on the wire: node, program, pid, a random number, the
    # text, CR LF; a new number every time.
    lines = echo_service.read_bytes().split(b"\n")[:-1]
    assert len(lines) >= 3
    numbers = set()
    for line in lines:
        m = re.fullmatch(rb"(\S+) autossh (\d+) (\d+) " + text.encode() + rb"\r",
                         line)
        assert m, line
        assert int(m.group(2)) == prog.pid
        numbers.add(m.group(3))
    assert len(numbers) == len(lines)


@pytest.mark.timeout(90)
def test_stopped_client_ssh_is_replaced(lab, autossh):
    prog = start_loop(autossh)
    assert wait_log(prog, PASSED, 15) is not None, prog.log_text()
    (old,) = prog.ssh_pids()
    labmod.stop_pid(old)
    try:
        start = time.monotonic()
        new = prog.wait_new_ssh(old, DETECT_S + KILL_GRACE_S + SLACK_S)
        assert new, "no new ssh:\n" + prog.log_text()
        assert lab.wait_tunnel(20) is not None
        took = time.monotonic() - start
        assert took < DETECT_S + KILL_GRACE_S + 2 * SLACK_S
        assert FAILED in prog.log_text()
        # The new ssh passes tests of its own.
        passed = count(prog, PASSED)
        assert wait_log(prog, PASSED, 15, times=passed + 1) is not None
    finally:
        labmod.cont_pid(old)


@pytest.mark.timeout(90)
def test_stopped_server_session_is_replaced(lab, autossh, echo_service):
    prog = start_echo(autossh)
    assert wait_log(prog, PASSED, 15) is not None, prog.log_text()
    (old,) = prog.ssh_pids()
    assert lab.sshd.stop_session()
    start = time.monotonic()
    # ssh itself is fine: only an end-to-end test sees the hung session.
    new = prog.wait_new_ssh(old, DETECT_S + SLACK_S)
    assert new, "no new ssh:\n" + prog.log_text()
    assert FAILED in prog.log_text()
    assert lab.wait_tunnel(20) is not None
    assert time.monotonic() - start < DETECT_S + 2 * SLACK_S
    passed = count(prog, PASSED)
    assert wait_log(prog, PASSED, 15, times=passed + 1) is not None


@pytest.mark.timeout(120)
def test_stopped_server_session_loop_mode(lab, autossh):
    prog = start_loop(autossh)
    assert wait_log(prog, PASSED, 15) is not None, prog.log_text()
    (old,) = prog.ssh_pids()
    stopped = lab.sshd.stop_session()
    assert stopped
    new = prog.wait_new_ssh(old, DETECT_S + SLACK_S)
    assert new, "no new ssh:\n" + prog.log_text()
    assert FAILED in prog.log_text()
    # The hung session still holds port 20000 on the server, so the new
    # -R is refused; the log says why.
    assert wait_log(prog, "a stale session probably still holds it", 30), \
        prog.log_text()
    # Once the old session can run again it sees its connection gone and
    # frees the port.
    for p in stopped:
        labmod.cont_pid(p)
    assert lab.wait_tunnel(90) is not None
    passed = count(prog, PASSED)
    assert wait_log(prog, PASSED, 30, times=passed + 1) is not None


@pytest.mark.timeout(150)
@pytest.mark.parametrize("mode", ["loop", "echo"])
def test_blackhole_is_detected(lab, autossh, request, mode):
    # A long liveness deadline: the monitor must be what notices.
    if mode == "loop":
        prog = autossh(["--deadline=300", "-M", str(MON), "-N", "Broker"],
                       env=FAST)
    else:
        request.getfixturevalue("echo_service")
        prog = autossh(["--deadline=300", "-M", f"{MON}:{ECHO}", "-N",
                        "Broker"], env=FAST)
    assert wait_log(prog, PASSED, 15) is not None, prog.log_text()
    (old,) = prog.ssh_pids()
    lab.blackhole()
    took = wait_log(prog, FAILED, DETECT_S + SLACK_S)
    assert took is not None, prog.log_text()
    assert "no reply within 1.5 s" in prog.log_text()
    assert labmod.wait_for(lambda: old not in prog.ssh_pids(), 10)
    lab.lift()
    assert lab.wait_tunnel(90) is not None, prog.log_text()
    passed = count(prog, PASSED)
    assert wait_log(prog, PASSED, 30, times=passed + 1) is not None


@pytest.mark.timeout(60)
def test_strays_on_the_reply_port_do_not_pass(lab, autossh):
    # The server's port 20000 is taken, so the -R fails and (with the
    # user's ExitOnForwardFailure=no) ssh stays: no real test can pass.
    lab.hold_remote_port(MON)
    prog = start_loop(autossh, args=("-o", "ExitOnForwardFailure=no"))
    stop = threading.Event()
    sent = []

    def strays():
        # Garbage, and lines shaped like ours with guessed numbers.
        while not stop.is_set():
            s = labmod.netns_socket(lab.client_ns)
            s.settimeout(1)
            try:
                s.connect(("127.0.0.1", MON + 1))
                s.sendall(b"GET / HTTP/1.0\r\n\r\n" if len(sent) % 2 else
                          f"lab autossh {prog.pid} {len(sent)}\r\n".encode())
                sent.append(1)
            except OSError:
                pass
            finally:
                s.close()
            time.sleep(0.1)

    t = threading.Thread(target=strays, daemon=True)
    t.start()
    try:
        took = wait_log(prog, FAILED, 1 + NET_TIMEOUT_S + SLACK_S)
        assert took is not None, prog.log_text()
    finally:
        stop.set()
        t.join(5)
    assert len(sent) > 5
    log = prog.log_text()
    assert PASSED not in log
    assert "stray connection" in log, log


# Connects to 127.0.0.1:PORT as fast as it can without waiting for the
# handshakes, keeping its last 32 connections open and silent: what any
# local user can do to the reply port.
FLOODER = r"""
import collections, socket, sys
held = collections.deque()
while True:
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", int(sys.argv[1])))
    held.append(s)
    if len(held) > 32:
        held.popleft().close()
"""
FLOODERS = 8


@pytest.mark.timeout(120)
def test_flood_on_the_reply_port_does_not_fail_tests(lab, autossh):
    """Another local user floods 127.0.0.1:20001 with connections. The
    monitor must not let them push ssh's reply out: tests pass, ssh stays."""
    prog = start_loop(autossh)
    assert wait_log(prog, PASSED, 15) is not None, prog.log_text()
    (ssh,) = prog.ssh_pids()
    passed = count(prog, PASSED)
    flooders = [lab.client_popen(["setpriv", "--reuid=nobody",
                                  "--regid=nogroup", "--clear-groups",
                                  "/usr/bin/python3", "-c", FLOODER,
                                  str(MON + 1)])
                for _ in range(FLOODERS)]
    try:
        # About six tests under the flood; the flooders must last it out.
        time.sleep(20)
        assert all(p.poll() is None for p in flooders)
    finally:
        for p in flooders:
            lab.terminate(p)
    log = prog.log_text()
    assert FAILED not in log, log
    assert prog.ssh_pids() == [ssh]
    assert count(prog, PASSED) >= passed + 4, log
    # The strangers were turned away as another user's.
    assert "another user" in log, log


@pytest.mark.timeout(30)
def test_message_over_64_bytes_is_refused(lab, autossh):
    prog = autossh(["-M", str(MON), "-N", "Broker"],
                   env={"AUTOSSH_MESSAGE": "x" * 65})
    assert prog.wait(10) == 1
    assert "AUTOSSH_MESSAGE" in prog.output()
    assert "started ssh" not in prog.log_text()
    assert prog.ssh_pids() == []


@pytest.mark.timeout(30)
def test_busy_reply_port_is_a_startup_error(lab, autossh):
    held = labmod.netns_socket(lab.client_ns)
    # Earlier tests may have left TIME_WAIT connections on the port.
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        held.bind(("127.0.0.1", MON + 1))
        held.listen(1)
        prog = autossh(["-M", str(MON), "-N", "Broker"])
        assert prog.wait(10) == 1
        assert f"127.0.0.1:{MON + 1}" in prog.output()
        assert "started ssh" not in prog.log_text()
    finally:
        held.close()


@pytest.mark.timeout(60)
def test_loop_mode_against_the_same_namespace_says_why(lab, autossh_bin):
    """autossh and sshd share one loopback: the server's -R 20000 collides
    with ssh's own -L 20000, so loop mode can never work. The log must say
    so instead of restarting silently."""
    log_path = f"{lab.workdir}/same-ns.log"
    env = {**FAST, "AUTOSSH_LOGFILE": log_path, "AUTOSSH_LOGLEVEL": "7"}
    # In the server namespace, with the lab's home (and ssh_config) on /root.
    p = lab.server_popen(lab.home_argv([autossh_bin, "-M", str(MON), "-N",
                                        "Broker"]), env=env)

    def ssh_in_server_ns():
        return [q for q in lab.server_pids()
                if (labmod.proc_stat(q) or {}).get("comm") == "ssh"]

    def log_text():
        try:
            with open(log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    try:
        # Three starts, each refused (back-off waits of up to 1 s and 2 s).
        assert labmod.wait_for(lambda: log_text().count("started ssh") >= 3
                               and log_text().count("ssh exited") >= 3, 30), \
            log_text()
        text = log_text()
        assert "remote port forwarding failed for listen port 20000" in text
        assert "loop mode needs the server on another host" in text
        assert f"-M {MON}:ECHO_PORT" in text
        # Said once at error level, not at every restart.
        assert text.count("is this host") == 1
        assert "refused on the server again" in text
    finally:
        lab.terminate(p)
        assert labmod.wait_for(lambda: not ssh_in_server_ns(), 10)
