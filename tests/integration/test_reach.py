"""Every address of the destination (DESIGN.md §Liveness): the helper
tries a host's addresses Happy Eyeballs style, so a dead first address or
a broken IPv6 path costs a stagger (0.25 s), not a connect timeout, and
the address that worked is tried first next time.

The lab names the server "multi" (a blackholed second server address
first, the real one second) and "dual" (its IPv6 address, blackholed,
then its IPv4 one) in the client's /etc/hosts.  The seed has no
ConnectTimeout: ssh alone (and autossh 1.4, which lets ssh connect)
would wait about two minutes of SYN retries on the first address.  The
helper's own time, from ssh's start to the connection, is read from the
log's millisecond timestamps; the 2 s silent-path cadence that came
before this took at least 2 s there."""

import datetime
import json
import os
import re
import time

import pytest

import lab as labmod

# The helper's time to a connection, ssh started to TCP up: one stagger
# plus a round trip in a quiet lab; the cadence for a silent path is 2 s.
HELPER_BOUND_S = 1.5
# Start to an MQTT answer through the tunnel, ssh's handshake included.
ANSWER_BOUND_S = 3.0

STAMP = re.compile(r"^(\S+)Z autossh\[\d+\]: (?:debug: |info: )?(.*)$")


def stamped(text):
    """(seconds since the epoch, message) for every line of a log."""
    out = []
    for line in text.splitlines():
        m = STAMP.match(line)
        if m:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
            out.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(),
                        m.group(2)))
    return out


def helper_times(prog):
    """[(seconds from "started ssh" to "connected to", remote address)] for
    every ssh the supervisor started that got a connection."""
    times, started = [], None
    for t, msg in stamped(prog.log_text()):
        if msg.startswith("started ssh"):
            started = t
        m = re.match(r"connected to (\S+) from", msg)
        if m and started is not None:
            times.append((t - started, m.group(1)))
            started = None
    return times


# A name of our own: the state directory is shared with every autossh on
# the machine, other labs' included.
NAME = f"reach{os.getpid()}"


def status(lab, prog, json_out=True):
    """--status of this test's instance: the parsed JSON object, or the
    text."""
    r = lab.client_run([prog.exe, "--status", NAME] + (["--json"] if json_out else []))
    if not json_out:
        return r.stdout
    (st,) = json.loads(r.stdout)
    return st


def multi_host(lab):
    """"multi": a dead address first, the server's real one second."""
    dead = f"{labmod.NET_PREFIX}.{lab.index}.3"
    lab.add_server_address(dead)
    lab.blackhole_address(dead)
    lab.set_hosts({"multi": [dead, lab.server_addr]})
    lab.write_ssh_config(server="multi")
    # The resolver keeps the file's order: the dead address is first.
    r = lab.client_run(["getent", "ahostsv4", "multi"])
    assert r.stdout.split()[0] == dead, r.stdout
    return dead


def start_and_time(lab, autossh):
    t0 = time.monotonic()
    prog = autossh(["-M0", "-N", "Broker"], env={"AUTOSSH_NAME": NAME})
    assert lab.wait_tunnel(20), prog.log_text()
    return prog, time.monotonic() - t0


@pytest.mark.timeout(60)
def test_a_blackholed_first_address_costs_a_stagger(lab, autossh):
    multi_host(lab)
    prog, took = start_and_time(lab, autossh)
    (helper_s, remote), = helper_times(prog)
    assert remote == f"{lab.server_addr}:{labmod.SSHD_PORT}"
    assert helper_s < HELPER_BOUND_S, prog.log_text()
    assert took < ANSWER_BOUND_S, prog.log_text()
    # --status shows the address in use.
    st = status(lab, prog)
    assert st["remote"] == f"{lab.server_addr}:{labmod.SSHD_PORT}", st
    text = status(lab, prog, json_out=False)
    assert f"-> {lab.server_addr}:{labmod.SSHD_PORT}" in text, text


@pytest.mark.timeout(60)
def test_the_address_that_worked_is_tried_first(lab, autossh):
    multi_host(lab)
    prog, _ = start_and_time(lab, autossh)
    dropped = lab.blackholed_packets()
    assert dropped >= 1         # the first helper did try the dead one
    (ssh,) = prog.ssh_pids()
    # The server ends the session in order: no stale session to clear,
    # so the next connection is an ordinary one.
    lab.sshd.kill_sessions()
    prog.wait_new_ssh(ssh, 15)
    assert labmod.wait_for(lambda: len(helper_times(prog)) == 2, 15), \
        prog.log_text()
    assert lab.wait_tunnel(10), prog.log_text()
    # Straight to the address that worked: not one SYN to the dead one.
    assert lab.blackholed_packets() == dropped
    assert helper_times(prog)[1][1] == f"{lab.server_addr}:{labmod.SSHD_PORT}"


@pytest.mark.timeout(60)
def test_status_shows_the_address_tried_first(lab, autossh):
    multi_host(lab)
    prog, _ = start_and_time(lab, autossh)
    (ssh,) = prog.ssh_pids()
    good = f"{lab.server_addr}:{labmod.SSHD_PORT}"
    # Both addresses dead and the connection forgotten: ssh goes, and
    # the next is dialing into the void with no connection to show.
    lab.blackhole()
    time.sleep(0.5)
    assert lab.forget_client_connections() >= 1
    assert labmod.wait_for(lambda: not labmod.alive(ssh), 10)
    want = f"next connection tries {good} first"
    assert labmod.wait_for(lambda: want in status(lab, prog, json_out=False),
                           10), status(lab, prog, json_out=False)
    st = status(lab, prog)
    assert st["preferred"] == good and "remote" not in st, st


@pytest.mark.timeout(60)
def test_broken_ipv6_working_ipv4(lab, autossh):
    lab.blackhole_address(lab.server_addr6)
    lab.set_hosts({"dual": [lab.server_addr6, lab.server_addr]})
    lab.write_ssh_config(server="dual")
    # The resolver puts IPv6 first (RFC 6724): it is the broken path.
    r = lab.client_run(["getent", "ahosts", "dual"])
    assert r.stdout.split()[0] == lab.server_addr6, r.stdout
    prog, took = start_and_time(lab, autossh)
    (helper_s, remote), = helper_times(prog)
    assert remote == f"{lab.server_addr}:{labmod.SSHD_PORT}"
    assert lab.blackholed_packets() >= 1
    assert helper_s < HELPER_BOUND_S, prog.log_text()
    assert took < ANSWER_BOUND_S, prog.log_text()


@pytest.mark.timeout(60)
def test_address_family_is_honoured(lab, autossh):
    lab.blackhole_address(lab.server_addr6)
    lab.set_hosts({"dual": [lab.server_addr6, lab.server_addr]})
    lab.write_ssh_config(server="dual", extra=["AddressFamily inet"])
    prog, _ = start_and_time(lab, autossh)
    # IPv4 only: the IPv6 address is never asked.
    assert lab.blackholed_packets() == 0
    assert helper_times(prog)[0][1] == f"{lab.server_addr}:{labmod.SSHD_PORT}"
