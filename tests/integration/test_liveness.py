"""The liveness layer and recovery (DESIGN.md §Liveness, §Network events,
§Back-off) in the lab: a dead link noticed within the deadline, network
events cutting waits short, user proxies respected, hostile host names
harmless, and the socket options really on the socket ssh uses.  Bounds are
generous."""

import ctypes
import os
import socket
import time

import pytest

import lab as labmod

SYS_PIDFD_GETFD = 438
TCP_USER_TIMEOUT = 18
_libc = ctypes.CDLL(None, use_errno=True)


def ssh_socket(ssh_pid):
    """A duplicate of ssh's TCP socket to sshd (pidfd_getfd), as a
    Python socket, so its options can be read."""
    for fd, target in labmod.open_fds(ssh_pid).items():
        if not target.startswith("socket:"):
            continue
        pidfd = os.pidfd_open(ssh_pid)
        try:
            dup = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        finally:
            os.close(pidfd)
        if dup < 0:
            continue
        s = socket.socket(fileno=dup)
        try:
            if s.type == socket.SOCK_STREAM and \
                    s.getpeername()[1] == labmod.SSHD_PORT:
                return s
        except OSError:
            pass
        s.close()
    return None


def options(s):
    return {
        "keepalive": s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "idle": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        "intvl": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        "user_timeout_ms": s.getsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT),
    }


def test_owned_socket_carries_the_options(lab, autossh):
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    (ssh,) = prog.ssh_pids()
    s = ssh_socket(ssh)
    assert s is not None, labmod.open_fds(ssh)
    try:
        # Deadline 45 s, no ServerAlive: probes after 30 s idle, every 5 s,
        # and the kernel gives up 40 s after the last packet.
        assert options(s) == {"keepalive": 1, "idle": 30, "intvl": 5,
                              "user_timeout_ms": 40000}
    finally:
        s.close()
    # ss sees the keepalive timer on the client's connection too (once
    # nothing is in flight; data in flight shows the retransmit timer).
    def timer():
        r = lab.client_run(["ss", "-tnoH", "state", "established", "dst",
                            lab.server_addr])
        return "timer:(keepalive" in r.stdout
    assert labmod.wait_for(timer, 5)


def test_seed_serveralive_keeps_probes_quiet(lab, autossh):
    # With the seed's ServerAlive 30/3, ssh keeps the link busy: probes
    # start after 45 s of silence (never on a healthy link) and the user
    # timeout ends a dead link 15 s after ssh's unanswered keepalive.
    lab.write_ssh_config(["ServerAliveInterval 30", "ServerAliveCountMax 3"])
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    (ssh,) = prog.ssh_pids()
    s = ssh_socket(ssh)
    try:
        o = options(s)
    finally:
        s.close()
    assert o["idle"] == 45 and o["user_timeout_ms"] == 15000, o
    assert "TCP probes stay quiet" in prog.log_text()


@pytest.mark.timeout(90)
def test_blackhole_without_serveralive_noticed_within_deadline(lab, autossh):
    # autossh 1.4 with -M 0 and no ServerAlive never notices this.
    prog = autossh(["-M0", "--deadline=10", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    (first,) = prog.ssh_pids()
    t0 = time.monotonic()
    lab.blackhole()
    assert labmod.wait_for(lambda: first not in prog.ssh_pids(), 2 * 10), \
        prog.log_text()
    noticed = time.monotonic() - t0
    # The deadline runs from the last packet received, which came before
    # t0; one second covers ssh's exit, the reaping and this poll.
    assert noticed <= 10 + 1, (noticed, prog.log_text())
    assert prog.wait_new_ssh(first, 10), prog.log_text()
    lab.lift()
    assert lab.wait_tunnel(10) is not None, prog.log_text()


@pytest.mark.timeout(90)
def test_restored_path_used_at_once(lab, autossh):
    # The new ssh connects into the blackhole: attempts every 2 s mean the
    # path is used soon after it returns, not after TCP's SYN back-off.
    prog = autossh(["-M0", "--deadline=10", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    (first,) = prog.ssh_pids()
    lab.blackhole()
    assert prog.wait_new_ssh(first, 20)
    time.sleep(6)           # several attempts into the void
    lab.lift()
    took = lab.wait_tunnel(10)
    assert took is not None and took < 5, (took, prog.log_text())


@pytest.mark.timeout(90)
def test_link_up_is_used_at_once(lab, autossh):
    prog = autossh(["-M0", "--deadline=10", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    (first,) = prog.ssh_pids()
    lab.link_down()
    # The kernel ends the dead connection; the new ssh cannot connect.
    assert prog.wait_new_ssh(first, 20)
    time.sleep(3)
    lab.link_up()
    took = lab.wait_tunnel(10)
    assert took is not None and took < 5
    # autossh saw the link come back.  Whether that restarted the
    # connecting ssh ("network changed while connecting") or the next
    # attempt got there first within the 250 ms the event settles is a
    # race; both are fast.  supervise.c's unit tests pin the rule.
    assert "network: link veth0 up" in prog.log_text()


def test_user_proxyjump_falls_back_to_serveralive(lab, autossh):
    # ssh owns the connection through the jump host, so autossh adds
    # ServerAlive options meeting the deadline instead.
    lab.write_ssh_config(["ProxyJump Jump"], hosts={"Jump": []})
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(20) is not None
    ssh = [p for p in prog.ssh_pids()][0]
    cmd = labmod.cmdline(ssh)
    assert "fdpass-helper" not in cmd
    assert "ServerAliveInterval=22" in cmd and "ServerAliveCountMax=1" in cmd
    assert "proxy in use: adding ServerAliveInterval 22" in prog.log_text()


def test_user_proxy_and_serveralive_are_respected(lab, autossh):
    lab.write_ssh_config(["ProxyJump Jump", "ServerAliveInterval 7"],
                         hosts={"Jump": []})
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(20) is not None
    ssh = [p for p in prog.ssh_pids()][0]
    assert "ServerAliveInterval" not in labmod.cmdline(ssh)
    assert "keeping your ServerAlive settings" in prog.log_text()


@pytest.mark.parametrize("host", ["$(touch /root/pwned)",
                                  "`touch /root/pwned`",
                                  "x;touch /root/pwned",
                                  "x'$(touch /root/pwned)'"])
def test_hostile_host_name_runs_nothing(lab, autossh, host):
    marker = os.path.join(lab.home, "pwned")
    # ssh takes the first HostName it reads: Host Evil comes first.
    with open(lab.ssh_config_path) as f:
        rest = f.read()
    with open(lab.ssh_config_path, "w") as f:
        f.write(f"Host Evil\n  HostName {host}\n  Port {labmod.SSHD_PORT}\n"
                f"\n{rest}")
    for args in (["-M0", "-N", "Evil"], ["-M0", "-N", host]):
        prog = autossh(args)
        prog.wait(20)
        assert not prog.alive() or prog.stop() is not None
        assert not os.path.exists(marker), (args, prog.log_text())


@pytest.mark.timeout(60)
def test_losing_the_local_address_restarts_at_once(lab, autossh):
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    (first,) = prog.ssh_pids()
    addr = f"{lab.client_addr}/24"
    labmod.run(["ip", "-n", lab.client_ns, "addr", "del", addr, "dev",
                labmod.IFNAME])
    try:
        # Not after the 40 s deadline: at once, on the netlink event.
        assert prog.wait_new_ssh(first, 5), prog.log_text()
        assert "local address went away" in prog.log_text()
    finally:
        labmod.run(["ip", "-n", lab.client_ns, "addr", "add", addr, "dev",
                    labmod.IFNAME])
    assert lab.wait_tunnel(15) is not None
