"""Forward health (DESIGN.md §Forward health): with the broker stopped
behind a working tunnel, autossh says the target is refused on the server
and keeps the same ssh; when the broker returns, the forward is healthy
again.  A refused target is not a dead tunnel.
"""

import json
import os
import threading
import time

import pytest

import lab as labmod

CHECK_S = 2


def status(lab, prog):
    """Our entry of `autossh --status --json`, or {}."""
    r = lab.client_run([prog.exe, "--status", "--json"], timeout=10)
    try:
        items = json.loads(r.stdout)
    except (TypeError, ValueError):
        return {}
    return next((i for i in items if i.get("pid") == prog.pid), {})


@pytest.mark.timeout(120)
def test_a_stopped_broker_is_a_refused_target_not_a_dead_tunnel(lab,
                                                                 autossh):
    prog = autossh(["-M0", f"--check-forwards={CHECK_S}", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None, prog.log_text()
    assert labmod.wait_for(lambda: status(lab, prog).get("state") == "up",
                           15), prog.log_text()
    ssh = prog.ssh_pids()
    assert len(ssh) == 1, ssh
    assert status(lab, prog).get("forwards") == ""

    lab.broker.stop()
    try:
        refused = labmod.wait_for(
            lambda: "target refused" in status(lab, prog).get("forwards", ""),
            20, interval=0.5)
        assert refused, prog.log_text()
        st = status(lab, prog)
        assert st["state"] == "up", st
        assert st["forwards"] == ("forward 22883\u2192localhost:1883: "
                                  "target refused on the server"), st
        text = lab.client_run([prog.exe, "--status"], timeout=10).stdout
        assert ("up, forward 22883\u2192localhost:1883: target refused on "
                "the server for") in text, text
        # No restart: the same ssh, still the only one.
        assert prog.ssh_pids() == ssh, prog.log_text()
    finally:
        lab.broker.start()
    healthy = labmod.wait_for(
        lambda: status(lab, prog).get("forwards") == "", 20,
        interval=0.5)
    assert healthy, prog.log_text()
    assert prog.ssh_pids() == ssh, prog.log_text()
    log = prog.log_text()
    assert log.count("target refused on the server") == 1, log
    assert log.count("forwards healthy again") == 1, log
    assert "tunnel up after" in log and log.count("tunnel up after") == 1, log


USER_CONNECT = ("import socket, time\n"
                f"s = socket.create_connection(('127.0.0.1', "
                f"{labmod.TUNNEL_PORT}))\n"
                "time.sleep(0.3)\n"
                "s.close()\n")


@pytest.mark.timeout(120)
def test_a_users_failing_connection_is_seen_without_checks(lab, autossh):
    # No --check-forwards: one check when up, then ssh's lines about the
    # user's own connections tell.
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None, prog.log_text()
    ssh = prog.ssh_pids()
    lab.broker.stop()
    try:
        lab.client_run(["python3", "-c", USER_CONNECT], timeout=10)
        refused = labmod.wait_for(
            lambda: "target refused" in status(lab, prog).get("forwards", ""),
            10, interval=0.5)
        assert refused, prog.log_text()
        assert prog.ssh_pids() == ssh, prog.log_text()
    finally:
        lab.broker.start()
    lab.client_run(["python3", "-c", USER_CONNECT], timeout=10)
    healthy = labmod.wait_for(
        lambda: status(lab, prog).get("forwards") == "", 10, interval=0.5)
    assert healthy, prog.log_text()
    assert prog.ssh_pids() == ssh, prog.log_text()


@pytest.mark.timeout(60)
def test_wait_with_check_forwards_waits_for_a_healthy_forward(lab,
                                                              autossh_bin):
    lab.broker.stop()
    started = threading.Timer(4, lab.broker.start)
    started.start()
    try:
        t0 = time.monotonic()
        r = lab.client_run([autossh_bin, "-M0", "-f", "--wait=20",
                            "--check-forwards=1", "-N", "Broker"], timeout=30,
                           env={"AUTOSSH_LOGFILE": os.path.join(
                               lab.workdir, "fwdwait.log")})
        took = time.monotonic() - t0
    finally:
        started.join()
        if not lab.broker.running():
            lab.broker.start()
    assert r.returncode == 0, r.stderr
    # Up within a second, but the forward was refused until the broker
    # came back after 4 s.
    assert 4 <= took < 15, took
    assert lab.mqtt_roundtrip(timeout=2)
    lab.kill_client_processes()


@pytest.mark.timeout(60)
def test_wait_with_check_forwards_returns_soon_when_healthy(lab,
                                                            autossh_bin):
    t0 = time.monotonic()
    r = lab.client_run([autossh_bin, "-M0", "-f", "--wait=20",
                        "--check-forwards=60", "-N", "Broker"], timeout=30,
                       env={"AUTOSSH_LOGFILE": os.path.join(
                           lab.workdir, "fwdwait2.log")})
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert took < 10, took
    assert lab.mqtt_roundtrip(timeout=2)
    lab.kill_client_processes()


RFWD_PORT = 22900     # the server's end of the -R
RFWD_TARGET = 22901   # its target on the client; nothing listens at first


@pytest.mark.timeout(120)
def test_a_refused_remote_forward_target_is_not_a_dead_tunnel(lab, autossh):
    # -R's target is on this machine: autossh connects to it itself.
    with labmod.NotifySocket(os.path.join(lab.workdir, "notify.sock")) as n:
        remote_target_refused_then_healthy(lab, autossh, n)


def remote_target_refused_then_healthy(lab, autossh, notified):
    prog = autossh(["-M0", f"--check-forwards={CHECK_S}", "-N", "-R",
                    f"{RFWD_PORT}:127.0.0.1:{RFWD_TARGET}", "Broker"],
                   env={"NOTIFY_SOCKET": notified.path})
    assert lab.wait_tunnel(15) is not None, prog.log_text()
    want = (f"forward R {RFWD_PORT}\u2192127.0.0.1:{RFWD_TARGET}: "
            "target refused on this machine")
    refused = labmod.wait_for(
        lambda: status(lab, prog).get("forwards", "") == want, 20,
        interval=0.5)
    assert refused, (status(lab, prog), prog.log_text())
    st = status(lab, prog)
    assert st["state"] == "up", st
    text = lab.client_run([prog.exe, "--status"], timeout=10).stdout
    assert f"up, {want} for" in text, text
    path = f"/run/autossh/{st['name']}.state"
    assert f"forwards {want}\n" in open(path).read()
    assert any(t.startswith("up") and want in t
               for t in notified.statuses()), notified.texts()
    ssh = prog.ssh_pids()
    assert len(ssh) == 1, ssh

    listener = labmod.netns_listener(lab.client_ns, "127.0.0.1", RFWD_TARGET)
    try:
        healthy = labmod.wait_for(
            lambda: status(lab, prog).get("forwards") == "", 20,
            interval=0.5)
        assert healthy, prog.log_text()
        # Healthy again is told to systemd too: up, without the phrase.
        assert labmod.wait_for(lambda: notified.statuses()[-1].startswith(
            "up") and "forward" not in notified.statuses()[-1], 5), \
            notified.texts()
        # Two more checks: still healthy, one line each way.
        time.sleep(2 * CHECK_S + 1)
        assert status(lab, prog).get("forwards") == "", prog.log_text()
    finally:
        listener.close()
    assert prog.ssh_pids() == ssh, prog.log_text()
    log = prog.log_text()
    assert log.count("target refused on this machine") == 1, log
    assert log.count("forwards healthy again") == 1, log
    assert log.count("tunnel up after") == 1, log
