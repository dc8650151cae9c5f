"""Self-tests of the lab: every primitive is shown to do, for real, what it claims.

The tunnel is plain `ssh -N Broker` with the seed's ssh_config, or the program
under test (any autossh; AUTOSSH_BIN=/usr/lib/autossh/autossh works) where a
supervisor is the point. A probe that passes must also be able to fail, so
each fault is checked in both directions.
"""

import socket
import subprocess
import time

import pytest

import lab as labmod

HELD_PORT = 22220


def start_tunnel(lab):
    """Plain ssh with the seed's tunnel; waits until MQTT passes through it."""
    ssh = lab.client_popen(["ssh", "-N", "Broker"])
    assert lab.wait_tunnel(10) is not None, "tunnel did not come up:\n" + _out(ssh)
    return ssh


def _out(popen):
    with open(popen.out_path, errors="replace") as f:
        return f.read()


def test_probe_fails_without_tunnel(lab):
    # The broker is up (a publish on the server side works)...
    assert lab.broker.publish("lab/selftest", "x").returncode == 0
    # ...but nothing forwards 22883 in the client namespace.
    assert not lab.mqtt_roundtrip(timeout=1)
    # A listener that accepts but does not speak MQTT is not enough either.
    fake = labmod.netns_socket(lab.client_ns)
    try:
        # Earlier tests' tunnels can leave connections to this port in
        # TIME_WAIT; ssh's own forwarding listener binds despite them too.
        fake.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        fake.bind(("127.0.0.1", labmod.TUNNEL_PORT))
        fake.listen(8)
        assert not lab.mqtt_roundtrip(timeout=1)
    finally:
        fake.close()


def test_probe_through_plain_ssh(lab):
    ssh = start_tunnel(lab)
    assert lab.mqtt_roundtrip()
    ssh.terminate()
    ssh.wait(5)
    assert not lab.mqtt_roundtrip(timeout=1)


def nft_drop_rules(lab):
    r = lab.server_run(["nft", "list", "table", "inet", labmod.NFT_TABLE])
    return r.stdout.count(" drop")


def test_blackhole_is_silent_and_lift_restores(lab):
    ssh = start_tunnel(lab)
    lab.blackhole()
    lab.blackhole()  # replaces the table, does not stack rules
    assert nft_drop_rules(lab) == 4  # IPv4 and IPv6, in and out
    assert not lab.mqtt_roundtrip(timeout=1.5)
    # Silent: no RST, no ICMP, so ssh (without ServerAlive) does not notice.
    assert ssh.poll() is None
    lab.lift()
    assert nft_drop_rules(lab) == 0
    assert lab.wait_tunnel(10) is not None
    assert ssh.poll() is None, "the same ssh carries the tunnel again"


def test_link_down_and_up(lab):
    ssh = start_tunnel(lab)
    lab.link_down()
    assert not lab.link_is_up()
    addrs = subprocess.run(["ip", "-n", lab.client_ns, "addr", "show", labmod.IFNAME],
                           capture_output=True, text=True).stdout
    assert lab.client_addr in addrs and lab.client_addr6 in addrs, addrs
    assert not lab.mqtt_roundtrip(timeout=1)
    lab.link_up()
    assert lab.wait_tunnel(15) is not None
    assert ssh.poll() is None


def test_kill_sessions_ends_plain_ssh(lab):
    ssh = start_tunnel(lab)
    listener = lab.sshd.listener_pid
    assert lab.sshd.session_pids()
    lab.sshd.kill_sessions()
    assert ssh.wait(5) == 255
    assert lab.sshd.session_pids() == []
    assert lab.sshd.listener_pid == listener and labmod.alive(listener)


def test_stop_and_cont_session(lab):
    ssh = start_tunnel(lab)
    stopped = lab.sshd.stop_session()
    assert stopped
    assert labmod.wait_for(
        lambda: all(labmod.proc_stat(p)["state"] == "T" for p in stopped), 2)
    assert not lab.mqtt_roundtrip(timeout=1)
    lab.sshd.cont_session()
    assert lab.wait_tunnel(10) is not None
    assert ssh.poll() is None


def test_sshd_restart_keeps_config_and_sessions(lab):
    lab.write_ssh_config(hosts={"Other": []})
    ssh = start_tunnel(lab)
    old = lab.sshd.listener_pid
    lab.sshd.restart()
    assert lab.sshd.listener_pid not in (None, old)
    # The old session lives on, as with a real sshd restart...
    assert lab.mqtt_roundtrip() and ssh.poll() is None
    # ...and the new listener accepts the same key and host key.
    r = lab.client_run(["ssh", "-o", "BatchMode=yes", "Other", "true"], timeout=10)
    assert r.returncode == 0, r.stderr


def test_sshd_extra_config_lines(lab):
    # extra lines come first, so they override the lab's "AllowTcpForwarding yes".
    lab.sshd.write_config(extra=["AllowTcpForwarding local"])
    lab.sshd.restart()
    r = lab.client_run(["ssh", "-N", "-o", "ExitOnForwardFailure=yes",
                        "-R", f"{HELD_PORT}:localhost:22", "Broker"], timeout=10)
    assert r.returncode == 255
    assert "remote port forwarding failed" in r.stderr


def test_hold_remote_port_refuses_forward(lab):
    argv = ["ssh", "-o", "ExitOnForwardFailure=yes", "-N",
            "-R", f"{HELD_PORT}:localhost:22", "Broker"]
    hold = lab.hold_remote_port(HELD_PORT)
    r = lab.client_run(argv, timeout=15)
    assert r.returncode == 255
    assert "remote port forwarding failed" in r.stderr
    hold.release()
    # Released: the same command now gets its port on the server.
    ssh = lab.client_popen(argv)

    def forwarded():
        s = labmod.netns_socket(lab.server_ns)
        s.settimeout(1)
        try:
            return s.connect_ex(("127.0.0.1", HELD_PORT)) == 0
        finally:
            s.close()

    assert labmod.wait_for(forwarded, 10), _out(ssh)
    assert ssh.poll() is None


def test_forget_client_connections(lab):
    ssh = start_tunnel(lab)
    assert lab.forget_client_connections() >= 1
    assert ssh.wait(5) == 255
    # Under a blackhole the abort's RST is lost: the server keeps a stale session.
    start_tunnel(lab)
    sessions = lab.sshd.session_pids()
    # Let the probe's last channel close finish: data the server still has to
    # retransmit after lift() would draw a RST from the client and end the
    # session after all.
    time.sleep(0.5)
    lab.blackhole()
    assert lab.forget_client_connections() >= 1
    lab.lift()
    assert set(sessions) <= set(lab.sshd.session_pids())


def test_process_inspection(lab):
    # sh opens fd 7, starts a child that inherits it, then execs into a sleep
    # that never reaps: the child becomes a zombie once it exits.
    p = lab.client_popen(["sh", "-c", "exec 7</etc/hostname; sleep 0.2 & exec sleep 30"])
    kids = labmod.wait_for(lambda: labmod.children(p.pid), 5)
    assert kids
    assert labmod.shared_fds(kids[0], p.pid).get(7) == "/etc/hostname"
    assert labmod.wait_for(lambda: labmod.zombie_children(p.pid), 5) == kids
    assert p.pid in lab.client_pids() and p.pid not in lab.server_pids()
    assert lab.client_procs("sleep") == [p.pid]
    assert set(labmod.open_fds(p.pid)) >= {0, 1, 2, 7}
    assert labmod.stray_fds(p.pid) == {7: "/etc/hostname"}
    assert labmod.stray_fds(p.pid, allow=[r"^/etc/"]) == {}
    assert any("zombie" in x for x in lab.leftovers())


def test_client_home_is_the_labs(lab):
    r = lab.client_run(["sh", "-c", "cat /root/.ssh/config; ssh -G Broker"])
    assert "Host Broker" in r.stdout
    assert f"localforward {labmod.TUNNEL_PORT} [localhost]:{labmod.MQTT_PORT}" in r.stdout
    assert f"userknownhostsfile {lab.known_hosts}" in r.stdout
    # The host itself never sees the bind mount.
    with open("/proc/self/mountinfo") as f:
        assert lab.home not in f.read()


def test_supervisor_restarts_ssh(lab, autossh, fd_check):
    prog = autossh(["-M0", "-N", "Broker"], env={"AUTOSSH_GATETIME": "0"})
    assert lab.wait_tunnel(10) is not None
    (first,) = prog.ssh_pids()
    assert fd_check(prog) == []
    lab.sshd.kill_sessions()
    new = labmod.wait_for(lambda: [p for p in prog.ssh_pids() if p != first], 10)
    assert new, "the supervisor did not start a new ssh"
    assert lab.wait_tunnel(10) is not None


def test_seed_command_daemonizes(lab, autossh):
    prog = autossh(["-M0", "-f", "-N", "Broker"])
    assert prog.foreground_status == 0
    assert prog.daemon_pid is not None and prog.alive()
    assert lab.wait_tunnel(10) is not None
    (ssh,) = prog.ssh_pids()
    assert labmod.proc_stat(ssh)["ppid"] == prog.daemon_pid
    # The subreaper makes even a daemon's exit status readable.
    assert prog.stop() is not None
    assert labmod.wait_for(lambda: not lab.client_procs("ssh"), 5)


def test_teardown_leaves_nothing(lab_requirements, tmp_path):
    own = labmod.Lab(tmp_path, index=1)
    assert own.server_addr == f"{labmod.NET_PREFIX}.1.2"
    ssh = own.client_popen(["ssh", "-N", "Broker"])
    assert own.wait_tunnel(10) is not None
    pids = own.client_pids() + own.server_pids()
    report = own.close()
    # The running ssh is reported, then killed with everything else.
    assert any(f"pid {ssh.pid}" in x for x in report), report
    assert own.close() == report  # closing twice is harmless
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                text=True).stdout
    assert own.client_ns not in namespaces and own.server_ns not in namespaces
    assert not [p for p in pids if labmod.proc_stat(p) is not None]
    for pid in labmod.all_pids():
        try:
            with open(f"/proc/{pid}/mountinfo") as f:
                assert own.home not in f.read(), f"pid {pid} still has the home mount"
        except OSError:
            pass
    # A lab closed with nothing running reports nothing.
    with labmod.Lab(tmp_path / "second", index=2) as quiet:
        assert quiet.close() == []


@pytest.mark.timeout(1)
def test_timeout_marker_interrupts_a_slow_test():
    with pytest.raises(pytest.fail.Exception, match="timeout"):
        time.sleep(10)
