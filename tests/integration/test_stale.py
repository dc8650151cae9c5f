"""Stale server sessions (DESIGN.md §Stale sessions): after a silent outage
in which the client's kernel forgot the connection, the server still holds
the old session and its -R port.  autossh reconnects from the old local
port, the server's challenge ACK draws a reset from the client's kernel, and
the stale session is gone before the new one asks for the port.  The control
runs the same outage with the liveness layer off (ssh connects itself, from
a fresh port) and shows the refusal that autossh 1.4 users see."""

import time

import pytest

import lab as labmod

REMOTE_PORT = 2222
ECHO_PORT = 7000

def echo_through_reverse(lab, timeout=2.0):
    """From the server, through -R 2222, to the client's echo service."""
    try:
        s = labmod.netns_socket(lab.server_ns)
    except OSError:
        return False
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", REMOTE_PORT))
        s.sendall(b"ping\n")
        return s.recv(16) == b"ping\n"
    except OSError:
        return False
    finally:
        s.close()


def outage(lab, prog):
    """Blackhole, make the client forget the connection (its reset is
    dropped), and return the server's now stale session pids."""
    (ssh,) = prog.ssh_pids()
    sessions = lab.sshd.session_pids()
    assert sessions
    lab.blackhole()
    time.sleep(0.5)         # let in-flight data settle (see lab/faults.py)
    assert lab.forget_client_connections() >= 1
    assert labmod.wait_for(lambda: not labmod.alive(ssh), 10)
    time.sleep(5)           # reconnect attempts go into the void
    # The server did not notice: the old session holds the port.
    assert all(labmod.alive(p) for p in sessions)
    return sessions


def setup_reverse(lab, autossh, args):
    lab.start_echo("client", ECHO_PORT)
    lab.write_ssh_config(hosts={"Reverse": [
        f"RemoteForward {REMOTE_PORT} localhost:{ECHO_PORT}"]})
    prog = autossh(args + ["-N", "Reverse"])
    assert labmod.wait_for(lambda: echo_through_reverse(lab), 15), \
        prog.log_text()
    return prog


@pytest.mark.timeout(120)
def test_stale_session_evicted_by_reusing_the_local_port(lab, autossh):
    prog = setup_reverse(lab, autossh, ["-M0", "--deadline=10"])
    stale = outage(lab, prog)
    starts = prog.log_text().count("started ssh")
    lab.lift()
    t0 = time.monotonic()
    # Without touching the forwarded port, the stale session goes away...
    assert labmod.wait_for(lambda: not any(labmod.alive(p) for p in stale),
                           20), prog.log_text()
    # ...and the new ssh is up with its forward: not refused.
    assert labmod.wait_for(lambda: "remote forwards back at the first try"
                           in prog.log_text(), 20), prog.log_text()
    assert time.monotonic() - t0 < 20
    assert prog.log_text().count("started ssh") - starts <= 1
    assert "remote port forwarding failed" not in prog.log_text()
    assert echo_through_reverse(lab)
    st = prog_status(lab, prog)
    assert '"evictions": 1' in st, st


def prog_status(lab, prog):
    r = lab.client_run([prog.exe, "--status", "Reverse", "--json"])
    return r.stdout


@pytest.mark.timeout(120)
def test_without_port_reuse_the_forward_is_refused(lab, autossh):
    # The control: the liveness layer off, ssh's ServerAlive notices the
    # outage, ssh connects from a fresh port after it.
    lab.write_ssh_config(hosts={"Reverse": [
        f"RemoteForward {REMOTE_PORT} localhost:{ECHO_PORT}",
        "ServerAliveInterval 2", "ServerAliveCountMax 2"]})
    lab.start_echo("client", ECHO_PORT)
    prog = autossh(["-M0", "--deadline=0", "-N", "Reverse"])
    assert labmod.wait_for(lambda: echo_through_reverse(lab), 15)
    stale = outage(lab, prog)
    lab.lift()
    assert labmod.wait_for(lambda: "remote port forwarding failed for "
                           f"listen port {REMOTE_PORT}" in prog.log_text(),
                           20), prog.log_text()
    # The stale session still holds the port.
    assert any(labmod.alive(p) for p in stale)
