"""DESIGN.md §Exit rules: what autossh does when ssh ends, row by row,
against a stand-in.

Each test scripts the stand-in's exits and checks the number of starts and
autossh's own exit status.  Gate time is shortened to keep tests fast.
"""
import pytest

GATE = {"AUTOSSH_GATETIME": "2", "AUTOSSH_BACKOFF_MAX": "1"}


def test_permanent_255_on_first_start_exits_1(run):
    rc = run.run(["-M0", "-N", "Broker"],
                 ["100 255 user@host: Permission denied (publickey)."],
                 **GATE)
    assert rc == 1
    assert len(run.starts()) == 1
    assert "Permission denied (publickey)" in run.log()
    assert "first start failed within the gate time" in run.log()


def test_permanent_255_after_gate_restarts(run):
    plan = ["2500 255 Permission denied (publickey).",
            "100 255 Permission denied (publickey).",
            "forever 0"]
    run.start(["-M0", "-N", "Broker"], plan, **GATE)
    assert run.wait_starts(3, timeout=15)
    assert run.proc.poll() is None


def test_transient_255_on_first_start_restarts_with_backoff(run):
    # autossh 1.4 exits 1 here: a tunnel started at boot would give up.
    plan = ["50 255 ssh: connect to host x port 22: Connection refused",
            "50 255 ssh: connect to host x port 22: Connection refused",
            "forever 0"]
    run.start(["-M0", "-N", "Broker"], plan, **GATE)
    assert run.wait_starts(3, timeout=15)
    assert "retry in" in run.log()
    assert run.proc.poll() is None


def test_killed_by_signal_on_first_start_restarts(run):
    run.start(["-M0", "-N", "Broker"], ["50 sig:9", "forever 0"], **GATE)
    assert run.wait_starts(2)
    assert "killed by signal 9 (SIGKILL)" in run.log()
    assert run.proc.poll() is None


def test_exit_0_within_gate_exits_1(run):
    rc = run.run(["-M0", "-N", "Broker"], ["100 0"], **GATE)
    assert rc == 1
    assert len(run.starts()) == 1


def test_exit_0_after_gate_with_command_exits_0(run):
    rc = run.run(["-M0", "Broker", "uptime"], ["2300 0"], **GATE)
    assert rc == 0
    assert len(run.starts()) == 1


@pytest.mark.parametrize("args", [["-N", "Broker"], ["-W", "h:22", "Broker"],
                                  ["-o", "SessionType=none", "Broker"]])
def test_exit_0_after_gate_without_command_restarts(run, args):
    run.start(["-M0"] + args, ["2300 0", "forever 0"], **GATE)
    assert run.wait_starts(2, timeout=10)
    assert run.proc.poll() is None


def test_ntservice_restarts_after_exit_0(run):
    run.start(["-M0", "Broker", "uptime"], ["2300 0", "forever 0"],
              AUTOSSH_NTSERVICE="yes", **GATE)
    assert run.wait_starts(2, timeout=10)
    assert run.proc.poll() is None


@pytest.mark.parametrize("status", [1, 2])
def test_exit_1_or_2_within_gate_exits_1(run, status):
    rc = run.run(["-M0", "-N", "Broker"], [f"100 {status}"], **GATE)
    assert rc == 1
    assert len(run.starts()) == 1


@pytest.mark.parametrize("status", [1, 2])
def test_exit_1_or_2_after_gate_restarts(run, status):
    # autossh 1.4 exits 1 forever if this was the first start.
    run.start(["-M0", "-N", "Broker"], [f"2300 {status}", "forever 0"],
              **GATE)
    assert run.wait_starts(2, timeout=10)
    assert run.proc.poll() is None


@pytest.mark.parametrize("sleep_ms", [100, 2300])
def test_other_status_exits_1(run, sleep_ms):
    rc = run.run(["-M0", "Broker", "false"], [f"{sleep_ms} 3"], **GATE)
    assert rc == 1
    assert len(run.starts()) == 1


def test_gate_0_restarts_every_first_start_failure(run):
    plan = ["50 255 Permission denied (publickey).", "50 1", "50 0",
            "forever 0"]
    run.start(["-M0", "-N", "Broker"], plan, AUTOSSH_GATETIME="0",
              AUTOSSH_BACKOFF_MAX="1")
    assert run.wait_starts(4, timeout=15)
    assert run.proc.poll() is None


def test_f_forces_gate_0(run):
    # With -f autossh goes to the background; the plan's permanent failure
    # on the first start must be retried, not fatal.
    plan = ["50 255 Permission denied (publickey).", "forever 0"]
    rc = run.run(["-M0", "-f", "-N", "Broker"], plan,
                 AUTOSSH_PIDFILE=str(run.tmp / "pid"),
                 AUTOSSH_BACKOFF_MAX="1")
    assert rc == 0      # the foreground parent returns at once
    assert run.wait_starts(2, timeout=10)
    pid = int((run.tmp / "pid").read_text())
    import os
    import signal
    os.kill(pid, signal.SIGTERM)
    from conftest import wait_for, alive
    assert wait_for(lambda: not alive(pid), 10)


def test_maxstart_reached_exits_0(run):
    rc = run.run(["-M0", "-N", "Broker"], ["50 255 Connection refused"],
                 AUTOSSH_GATETIME="0", AUTOSSH_MAXSTART="3",
                 AUTOSSH_BACKOFF_MAX="1")
    assert rc == 0
    assert len(run.starts()) == 3
    assert "AUTOSSH_MAXSTART (3) reached" in run.log()


def test_maxlifetime_stops_ssh_and_exits_0(run):
    rc = run.run(["-M0", "-N", "Broker"], ["forever 0"],
                 AUTOSSH_MAXLIFETIME="1", timeout=10)
    assert rc == 0
    assert "AUTOSSH_MAXLIFETIME (1 s) reached" in run.log()
    pid = run.starts()[0][1]
    from conftest import alive
    assert not alive(pid)


def test_arguments_reach_ssh_in_order(run):
    user = ["-N", "-o", "ServerAliveInterval=5", "-L8808:foo:80"]
    run.start(["-M0"] + user + ["Broker", "ls", "-fl", "/tmp"],
              ["forever 0"])
    assert run.wait_starts(1)
    args = run.starts()[0][2].split(" ")
    # The remote command and its options follow the destination untouched.
    assert args[-4:] == ["Broker", "ls", "-fl", "/tmp"]
    # The user's options keep their order (autossh may add its own).
    it = iter(args[:-4])
    assert all(a in it for a in user)
