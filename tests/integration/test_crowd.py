"""Many tunnels of one user to one sshd (DESIGN.md §Handshake slots): after
an sshd restart they take turns through the handshake slots, so sshd's
MaxStartups drops none of them.  Bounds are generous; the figures belong to
make bench's storm."""

import json
import re
import time

import pytest

import lab as labmod

CROWD = 16


def ups(prog):
    return prog.log_text().count("tunnel up after")


def states(lab, progs):
    """{pid: state} of progs from `autossh --status --json` (every
    instance on the machine is listed; ours are picked by pid)."""
    r = lab.client_run([progs[0].exe, "--status", "--json"], timeout=10)
    try:
        items = json.loads(r.stdout)
    except (TypeError, ValueError):
        return {}
    pids = {p.pid for p in progs}
    return {i["pid"]: i["state"] for i in items if i["pid"] in pids}


@pytest.mark.timeout(180)
def test_a_crowd_after_an_sshd_restart_is_not_dropped(lab, autossh):
    # From 10 unauthenticated connections at once sshd drops every new one
    # (10:100:10), so any overlap beyond the default's start is seen: 16
    # tunnels asked again within 0.15 s of each other (connect.c) overlap
    # that much unless the slots (8) keep them apart.
    lab.sshd.write_config(max_startups="10:100:10")
    lab.sshd.restart()
    lab.write_ssh_config(hosts={"Crowd": []})
    progs = [autossh(["-M0", "-N", "Crowd"], name=f"crowd-{i}")
             for i in range(CROWD)]
    assert labmod.wait_for(lambda: all(ups(p) >= 1 for p in progs), 90), \
        [p.name for p in progs if ups(p) < 1]

    offset = labmod.file_size(lab.sshd.log_path)
    lab.sshd.stop()
    lab.sshd.kill_sessions()
    t_down = time.monotonic()
    # While sshd is down, 8 hold the slots (their ssh asks it again and
    # again) and the rest wait, which --status shows.
    waiting = labmod.wait_for(
        lambda: sum(1 for v in states(lab, progs).values()
                    if v == "awaiting slot") >= CROWD - 8, 1.5, interval=0.1)
    time.sleep(max(0.0, t_down + 2 - time.monotonic()))
    lab.sshd.start()
    assert labmod.wait_for(lambda: all(ups(p) >= 2 for p in progs), 90), \
        [p.name for p in progs if ups(p) < 2]
    dropped = re.findall(r"drop connection #\d+ from \S+ .*past MaxStartups",
                         lab.sshd.log_text(offset))
    assert dropped == [], f"sshd dropped {len(dropped)}: {dropped}"
    assert all(p.alive() for p in progs)
    assert waiting, "--status showed no instance awaiting a slot"
    # Some waited their turn, and said so at debug.
    assert any("every handshake slot" in p.log_text() for p in progs)
