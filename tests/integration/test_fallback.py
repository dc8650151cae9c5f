"""Fallback destinations (DESIGN.md §Fallbacks) end to end.

The primary is Host Broker (the server's address); the fallback is Host
Backup, another HostName ("backup-srv", a second address of the server
namespace on which sshd also listens), with its own LocalForward of the
MQTT port.  The primary dies silently (its address is blackholed): autossh
must move to Backup after two quick failures, the MQTT subscriber's QoS 1
sequence must go on through it with nothing lost, and once the primary's
address answers again the once-a-minute probe must bring the tunnel back
to it.  One sshd process serves both addresses; what differs for autossh
is the destination, its HostName and its known host name.

The way back waits for the once-a-minute probe, so that test is marked
`long`: `make soak` runs it, `make check` runs the failover alone.
"""

import json
import os
import subprocess
import time

import pytest

import lab as labmod
from test_mqtt_session import Sequence, Subscriber, subscribed

NAME = f"fallback{os.getpid()}"
DEADLINE_S = 5


def backup_host(lab):
    """Host Backup on a second server address; returns the address."""
    addr = f"{labmod.NET_PREFIX}.{lab.index}.3"
    lab.add_server_address(addr)
    lab.sshd.write_config(extra=[f"ListenAddress {addr}:{labmod.SSHD_PORT}"])
    lab.sshd.restart()
    lab.set_hosts({"backup-srv": [addr]})
    lab.write_ssh_config(
        extra=["ConnectTimeout 3"],
        hosts={"Backup": [f"LocalForward {labmod.TUNNEL_PORT} "
                          f"localhost:{labmod.MQTT_PORT}", "ConnectTimeout 3"]},
        servers={"Backup": "backup-srv"})
    return addr


def status(lab, prog):
    r = lab.client_run([prog.exe, "--status", NAME, "--json"])
    (st,) = json.loads(r.stdout)
    return st


def ssh_peer_addrs(lab):
    """Server addresses of the client's established ssh connections."""
    r = lab.client_run(["ss", "-Htn", "state", "established", "dport",
                        f"= :{labmod.SSHD_PORT}"], quiet=True)
    return {line.split()[-1].rsplit(":", 1)[0] for line in r.stdout.splitlines()
            if line.strip()}


@pytest.mark.timeout(120)
def test_failover_without_losing_mqtt(lab, autossh):
    run_failover(lab, autossh, back=False)


@pytest.mark.long
@pytest.mark.timeout(300)
def test_failover_and_back_without_losing_mqtt(lab, autossh):
    run_failover(lab, autossh, back=True)


def in_use(lab, prog, dest):
    """Is the tunnel up through dest (a Host name)?"""
    try:
        s = status(lab, prog)
    except (ValueError, subprocess.SubprocessError):
        return False
    return s["destination_in_use"] == dest and s["state"] == "up"


def run_failover(lab, autossh, back):
    """Primary blackholed under a QoS 1 sequence: on Backup, nothing lost;
    with back, the primary answers again and the tunnel returns to it."""
    with labmod.NotifySocket(os.path.join(lab.workdir, "notify.sock")) as n:
        run_failover_notified(lab, autossh, back, n)


def run_failover_notified(lab, autossh, back, notified):
    backup = backup_host(lab)
    prog = autossh(["-M0", f"--deadline={DEADLINE_S}", "--fallback=Backup",
                    "-N", "Broker"],
                   env={"AUTOSSH_BACKOFF_MAX": "2", "AUTOSSH_NAME": NAME,
                        "NOTIFY_SOCKET": notified.path})
    assert lab.wait_tunnel(20) is not None, prog.log_text()
    st = status(lab, prog)
    assert st["destination_in_use"] == "Broker", st
    assert st["destination_reason"] == "primary", st
    # With fallbacks, systemd's STATUS= says where ssh goes and why.
    assert labmod.wait_for(lambda: "up (Broker, start 1); destination "
                           "Broker (primary)" in notified.statuses(), 5), \
        notified.texts()

    sub = Subscriber(lab)
    seq = None
    back_s = None
    try:
        assert subscribed(lab, sub), "subscriber never subscribed"
        seq = Sequence(lab, "lab-fallback-pub")
        try:
            time.sleep(3)
            # The primary dies silently.
            t0 = time.monotonic()
            lab.blackhole_address(lab.server_addr)
            assert labmod.wait_for(lambda: in_use(lab, prog, "Backup"), 60,
                                   interval=0.5), prog.log_text()
            failover_s = time.monotonic() - t0
            st = status(lab, prog)
            assert st["destination_reason"].startswith(
                "fallback: primary failed twice"), st
            assert labmod.wait_for(lambda: any(
                t.startswith("up (Backup, start ") and "; destination "
                "Backup (fallback: primary failed twice" in t
                for t in notified.statuses()), 20), notified.texts()
            assert backup in ssh_peer_addrs(lab), prog.log_text()
            time.sleep(5)
            if back:
                # The primary comes back; the probe (once a minute) notices.
                lab.blackhole_address()
                t1 = time.monotonic()
                assert labmod.wait_for(lambda: in_use(lab, prog, "Broker"),
                                       100, interval=0.5), prog.log_text()
                back_s = time.monotonic() - t1
                st = status(lab, prog)
                assert st["destination_reason"] == \
                    "back to primary: it answered", st
                assert lab.server_addr in ssh_peer_addrs(lab), prog.log_text()
                time.sleep(5)
        finally:
            pub_rc = seq.stop()
        assert pub_rc == 0, "the publisher failed"
        got, missing = seq.received(sub)
        back_txt = "-" if back_s is None else f"{back_s:.1f} s"
        print(f"\nfallback: failover {failover_s:.1f} s, back after "
              f"{back_txt}; mqtt {seq.sent} sent, {len(set(got))} received, "
              f"{len(got) - len(set(got))} duplicates, {len(missing)} missing")
        assert not missing, f"{len(missing)} of {seq.sent} lost: {missing[:50]}"
    finally:
        sub.close()
        if seq is not None:
            seq.close()
