"""What operators see (DESIGN.md §Forwards, §Published state, §systemd,
§Logging): the tunnel is up only when its forwards are, --status and its
JSON, systemd's notifications, -f --wait."""

import json
import os
import time

import pytest

import lab as labmod

REMOTE_PORT = 2222


def status(lab, prog, name="Broker"):
    """prog's entry in `autossh --status --json`.  All instances are
    listed and prog's is picked by pid: another autossh on this machine
    (a benchmark, say) may publish under the same name."""
    r = lab.client_run([prog.exe, "--status", "--json"], timeout=10)
    if r.returncode is None:
        return None
    try:
        items = json.loads(r.stdout)
    except ValueError:
        return None
    for item in items:
        if item["pid"] == prog.pid:
            assert item["name"] in (name, f"{name}.{prog.pid}"), item
            return item
    return None


def wait_state(lab, prog, state, timeout, name="Broker"):
    def check():
        st = status(lab, prog, name)
        return st if st and st["state"] == state else None
    return labmod.wait_for(check, timeout, interval=0.2)


def test_status_reflects_up_and_the_connection(lab, autossh):
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    st = wait_state(lab, prog, "up", 10)
    assert st is not None
    assert st["running"] and st["pid"] == prog.pid
    assert st["ssh_pid"] == prog.ssh_pids()[0]
    assert st["starts"] == 1 and st["restarts"] == 0
    assert st["remote"] == f"{lab.server_addr}:{labmod.SSHD_PORT}"
    assert st["bytes_received"] > 0 and st["rtt_ms"] > 0
    assert st["keepalive_bytes_per_day"] == 299520
    # The human form says the same.
    r = lab.client_run([prog.exe, "--status", st["name"]], timeout=10)
    assert r.returncode == 0
    assert r.stdout.startswith(f"{st['name']}: up for ")
    assert "liveness: own socket" in r.stdout


@pytest.mark.timeout(90)
def test_status_across_a_blackhole(lab, autossh):
    prog = autossh(["-M0", "--deadline=10", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    assert wait_state(lab, prog, "up", 10)
    lab.blackhole()
    st = wait_state(lab, prog, "connecting", 25)
    assert st is not None
    assert st["last_exit"]["status"] == 255 and st["last_exit"]["reason"]
    assert st["starts"] == 2
    lab.lift()
    st = wait_state(lab, prog, "up", 15)
    assert st is not None and st["restarts"] == 1


@pytest.mark.timeout(120)
def test_refused_remote_forward_never_up_until_port_freed(lab, autossh):
    hold = lab.hold_remote_port(REMOTE_PORT)
    lab.write_ssh_config(hosts={"Reverse": [
        f"RemoteForward {REMOTE_PORT} localhost:22"]})
    prog = autossh(["-M0", "-N", "Reverse"],
                   env={"AUTOSSH_BACKOFF_MAX": "3"})
    seen = set()
    end = time.monotonic() + 12
    while time.monotonic() < end:
        st = status(lab, prog, "Reverse")
        if st:
            seen.add(st["state"])
        time.sleep(0.2)
    assert "up" not in seen, seen
    assert "backing off" in seen
    log = prog.log_text()
    assert (f"remote port forwarding failed for listen port {REMOTE_PORT}"
            in log)
    st = status(lab, prog, "Reverse")
    assert "remote port forwarding failed" in st["last_exit"]["reason"]
    assert "tunnel up" not in log
    hold.release()
    assert wait_state(lab, prog, "up", 20, "Reverse"), prog.log_text()


@pytest.mark.timeout(90)
def test_notify_ready_only_when_the_tunnel_works(lab, autossh):
    path = os.path.join(lab.workdir, "notify.sock")
    listener = labmod.NotifySocket(path)
    try:
        # A slow path to make a too-early READY visible: the tunnel is
        # not usable until authentication and the forwards are done.
        prog = autossh(["-M0", "-N", "Broker"],
                       env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
        assert labmod.wait_for(lambda: "READY=1" in listener.texts(), 15)
        # At READY the tunnel answers at once.
        assert lab.mqtt_roundtrip(timeout=2)
        texts = listener.texts()
        ready = texts.index("READY=1")
        assert any(t.startswith("STATUS=connecting") for t in texts[:ready])
        assert any(t.startswith("STATUS=up") for t in texts)
        # The watchdog is fed every half period.
        assert labmod.wait_for(
            lambda: listener.texts().count("WATCHDOG=1") >= 3, 5)
        # A change is a new STATUS line; READY is sent once only.
        (ssh,) = prog.ssh_pids()
        lab.sshd.kill_sessions()
        assert labmod.wait_for(lambda: [p for p in prog.ssh_pids()
                                        if p != ssh], 10)
        assert lab.wait_tunnel(15) is not None
        assert labmod.wait_for(lambda: sum(
            t.startswith("STATUS=up") for t in listener.texts()) >= 2, 10)
        assert listener.texts().count("READY=1") == 1
        # ssh must not inherit the socket: autossh removed the variable.
        env = open(f"/proc/{prog.ssh_pids()[0]}/environ", "rb").read()
        assert b"NOTIFY_SOCKET" not in env
        prog.stop()
        assert labmod.wait_for(lambda: "STOPPING=1" in listener.texts(), 5)
    finally:
        listener.close()


def test_wait_returns_0_once_up(lab, autossh_bin):
    t0 = time.monotonic()
    r = lab.client_run([autossh_bin, "-M0", "-f", "--wait=20", "-N",
                        "Broker"], timeout=30,
                       env={"AUTOSSH_LOGFILE": os.path.join(lab.workdir,
                                                            "wait.log")})
    assert r.returncode == 0, r.stderr
    # When --wait returns, the tunnel works.
    assert lab.mqtt_roundtrip(timeout=2)
    assert time.monotonic() - t0 < 20
    lab.kill_client_processes()


@pytest.mark.timeout(60)
def test_wait_fails_within_the_timeout_when_unreachable(lab, autossh_bin):
    lab.blackhole()
    t0 = time.monotonic()
    r = lab.client_run([autossh_bin, "-M0", "-f", "--wait=5", "-N",
                        "Broker"], timeout=30,
                       env={"AUTOSSH_LOGFILE": os.path.join(lab.workdir,
                                                            "wait2.log")})
    took = time.monotonic() - t0
    assert r.returncode == 1
    assert 4 < took < 10, took
    assert "is not up after 5 s" in r.stderr
    lab.kill_client_processes()


def test_wait_reports_a_permanent_failure_at_once(lab, autossh_bin):
    r = lab.client_run([autossh_bin, "-M0", "-f", "--wait=30", "-N", "-l",
                        "nosuchuser", "Broker"], timeout=40,
                       env={"AUTOSSH_LOGFILE": os.path.join(lab.workdir,
                                                            "wait3.log"),
                            "AUTOSSH_MAXSTART": "1"})
    assert r.returncode == 1
    assert "Permission denied" in r.stderr
    lab.kill_client_processes()


def test_usr2_logs_the_state(lab, autossh):
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    prog.signal(__import__("signal").SIGUSR2)
    assert labmod.wait_for(lambda: "state: up for" in prog.log_text(), 5)


def test_state_file_is_atomic_and_safe(lab, autossh):
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    path = f"/run/autossh/{status(lab, prog)['name']}.state"
    st = os.lstat(path)
    assert oct(st.st_mode & 0o777) == "0o600"
    text = open(path).read()
    assert f"pid {prog.pid}\n" in text
    # Nothing secret: no key material, no environment.
    assert "PRIVATE" not in text and "IdentityFile" not in text
    prog.stop()
    assert not os.path.exists(path)
