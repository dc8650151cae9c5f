"""DESIGN.md §Signals and §Files and cleanup: signals in the running and
the waiting state, no orphans, no zombies, no leaked descriptors, and the
pidfile."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import alive, children, wait_for, _autossh_bin

RUNNING = ["forever 0"]
# Quick failures then back-off: long waits so that the test sees the
# waiting state ("backing off") for sure.
WAITING = ["20 255 ssh: connect to host x port 22: Connection refused"]
WAIT_ENV = {"AUTOSSH_GATETIME": "0", "AUTOSSH_BACKOFF_MAX": "600"}


def start_waiting(run):
    """Start autossh whose ssh keeps failing, and return once it has just
    begun a back-off wait of at least 2 s (the jittered waits grow, so one
    comes soon).  Returns the number of starts so far."""
    run.start(["-M0", "-N", "Broker"], WAITING * 12 + RUNNING, **WAIT_ENV)

    def long_wait():
        lines = [ln for ln in run.log().splitlines() if "retry in" in ln]
        if not lines or run.ssh_pid() is not None:
            return None
        m = re.search(r"retry in (\d+)\.\d s$", lines[-1])
        return m and int(m.group(1)) >= 2 and len(run.starts())

    n = wait_for(long_wait, timeout=30)
    assert n, run.log()
    return n


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGQUIT])
def test_stop_signal_while_running(run, sig):
    run.start(["-M0", "-N", "Broker"], RUNNING)
    assert run.wait_starts(1)
    ssh = run.ssh_pid()
    run.signal(sig)
    assert run.proc.wait(timeout=10) == 1
    assert not alive(ssh)
    assert f"received SIG{signal.Signals(sig).name[3:]}" in run.log()


def test_stop_signal_exit_status_under_systemd(run):
    run.start(["-M0", "-N", "Broker"], RUNNING, INVOCATION_ID="abc")
    assert run.wait_starts(1)
    run.signal(signal.SIGTERM)
    assert run.proc.wait(timeout=10) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGQUIT])
def test_stop_signal_while_waiting(run, sig):
    start_waiting(run)
    t0 = time.monotonic()
    run.signal(sig)
    assert run.proc.wait(timeout=10) == 1
    assert time.monotonic() - t0 < 1.5


def test_ssh_ignoring_sigterm_is_killed_after_5s(run):
    run.start(["-M0", "-N", "Broker"], ["forever 0 term=ignore"])
    assert run.wait_starts(1)
    ssh = run.ssh_pid()
    time.sleep(0.2)
    t0 = time.monotonic()
    run.signal(signal.SIGTERM)
    assert run.proc.wait(timeout=15) == 1
    took = time.monotonic() - t0
    assert 4 < took < 9, took
    assert not alive(ssh)
    assert "sending SIGKILL" in run.log()


def test_usr1_while_running_gives_a_new_ssh(run):
    run.start(["-M0", "-N", "Broker"], RUNNING)
    assert run.wait_starts(1)
    first = run.ssh_pid()
    run.signal(signal.SIGUSR1)
    assert run.wait_starts(2)
    assert wait_for(lambda: not alive(first))
    assert run.ssh_pid() not in (None, first)
    assert run.proc.poll() is None


def test_usr1_while_waiting_retries_now(run):
    # autossh 1.4 died on SIGUSR1 during its back-off.
    n = start_waiting(run)
    run.signal(signal.SIGUSR1)
    assert run.wait_starts(n + 1, timeout=1.5)
    assert "retrying now on request" in run.log()
    assert run.proc.poll() is None


def test_hup_while_waiting_retries_now(run):
    n = start_waiting(run)
    run.signal(signal.SIGHUP)
    assert run.wait_starts(n + 1, timeout=1.5)
    assert "retrying now on request" in run.log()
    assert run.proc.poll() is None


def test_hup_while_running_keeps_ssh_and_reopens_log(run):
    run.start(["-M0", "-N", "Broker"], RUNNING)
    assert run.wait_starts(1)
    ssh = run.ssh_pid()
    rotated = run.logfile.with_suffix(".1")
    os.rename(run.logfile, rotated)
    run.signal(signal.SIGHUP)
    assert wait_for(lambda: run.logfile.exists())
    run.signal(signal.SIGUSR2)
    assert run.wait_log("state: connecting")
    assert "received SIGHUP" in rotated.read_text() + run.log()
    assert run.ssh_pid() == ssh


def test_usr2_logs_the_state(run):
    run.start(["-M0", "-N", "Broker"], RUNNING)
    assert run.wait_starts(1)
    run.signal(signal.SIGUSR2)
    assert run.wait_log(f"ssh pid {run.ssh_pid()}")


def test_sigpipe_is_ignored(run):
    run.start(["-M0", "-N", "Broker"], RUNNING)
    assert run.wait_starts(1)
    run.signal(signal.SIGPIPE)
    time.sleep(0.3)
    assert run.proc.poll() is None


def test_sigkill_of_autossh_leaves_no_ssh(run):
    run.start(["-M0", "-N", "Broker"], RUNNING)
    assert run.wait_starts(1)
    ssh = run.ssh_pid()
    run.proc.kill()
    run.proc.wait()
    assert wait_for(lambda: not alive(ssh), 5)


def test_no_zombies_and_no_fd_leaks_across_restarts(run):
    # Every start fails after 20 ms and is retried at once (gate 0 and a
    # tiny back-off cap), so autossh reaps many children quickly.
    plan = ["20 255 Connection refused"] * 30 + RUNNING
    run.start(["-M0", "-N", "Broker"], plan, AUTOSSH_GATETIME="0",
              AUTOSSH_BACKOFF_MAX="1")
    pid = run.proc.pid
    assert run.wait_starts(31, timeout=60)
    ssh = run.ssh_pid()
    assert ssh is not None
    zombies = [c for c in children(pid)
               if open(f"/proc/{c}/stat").read().rsplit(")", 1)[1].split()[0]
               == "Z"]
    assert zombies == []
    # The stand-in holds stdin, stdout and stderr, nothing else.
    assert sorted(int(f) for f in os.listdir(f"/proc/{ssh}/fd")) == [0, 1, 2]
    # autossh's own descriptors did not grow with the restarts.
    fds = os.listdir(f"/proc/{pid}/fd")
    assert len(fds) < 12, [os.readlink(f"/proc/{pid}/fd/{f}") for f in fds]


def test_ssh_gets_default_signal_state(run):
    # Started ignoring SIGHUP and SIGUSR1, as under nohup or a shell trap.
    run.start(["-M0", "-N", "Broker"], RUNNING, preexec_ignore=(
        signal.SIGHUP, signal.SIGUSR1, signal.SIGWINCH))
    assert run.wait_starts(1)
    status = open(f"/proc/{run.ssh_pid()}/status").read()
    fields = dict(line.split(":\t", 1) for line in status.splitlines()
                  if ":\t" in line)
    assert int(fields["SigBlk"], 16) == 0
    # Nothing ignored either, whatever autossh inherited (GNU make leaves
    # its children ignoring 32 and 33), except those two: the C library
    # reserves them and refuses to change them (bit n-1 is signal n).
    glibc_reserved = (1 << 31) | (1 << 32)
    assert int(fields["SigIgn"], 16) & ~glibc_reserved == 0


class TestPidfile:
    def test_written_and_removed(self, run):
        pidfile = run.tmp / "autossh.pid"
        run.start(["-M0", "-N", "Broker"], RUNNING,
                  AUTOSSH_PIDFILE=str(pidfile))
        assert run.wait_starts(1)
        assert wait_for(lambda: pidfile.exists() and pidfile.read_text())
        assert int(pidfile.read_text()) == run.proc.pid
        run.signal(signal.SIGTERM)
        run.proc.wait(timeout=10)
        assert not pidfile.exists()

    def test_second_instance_refused(self, run):
        pidfile = run.tmp / "autossh.pid"
        run.start(["-M0", "-N", "Broker"], RUNNING,
                  AUTOSSH_PIDFILE=str(pidfile))
        assert run.wait_starts(1)
        assert wait_for(lambda: pidfile.exists() and pidfile.read_text())
        second = subprocess.run(
            [str(_autossh_bin()), "-M0", "-N", "Broker"],
            env=run.env(AUTOSSH_PIDFILE=str(pidfile)),
            capture_output=True, text=True, timeout=10)
        assert second.returncode == 1
        assert f"already running (pid {run.proc.pid})" in second.stderr
        assert len(run.starts()) == 1

    def test_stale_pidfile_taken_over(self, run):
        pidfile = run.tmp / "autossh.pid"
        pidfile.write_text("999999\n")
        run.start(["-M0", "-N", "Broker"], RUNNING,
                  AUTOSSH_PIDFILE=str(pidfile))
        assert run.wait_starts(1)
        assert wait_for(lambda: pidfile.read_text() ==
                        f"{run.proc.pid}\n")

    def test_relative_path_made_absolute_with_f(self, run):
        # -f changes directory to /; the pidfile stays where it was meant.
        rc = run.run(["-M0", "-f", "-N", "Broker"], RUNNING,
                     AUTOSSH_PIDFILE="rel.pid")
        assert rc == 0
        pidfile = run.tmp / "rel.pid"
        assert wait_for(lambda: pidfile.exists() and pidfile.read_text())
        pid = int(pidfile.read_text())
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert run.wait_starts(1)
        ssh = run.ssh_pid()
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: not alive(pid) and not pidfile.exists())
        assert not alive(ssh)

    def test_symlink_refused(self, run, tmp_path):
        target = tmp_path / "target"
        target.write_text("precious\n")
        link = tmp_path / "link.pid"
        link.symlink_to(target)
        rc = run.run(["-M0", "-N", "Broker"], RUNNING,
                     AUTOSSH_PIDFILE=str(link))
        assert rc == 1
        assert "symbolic link" in run.stderr()
        assert target.read_text() == "precious\n"
        assert run.starts() == []


def test_journal_stream_gets_priority_prefixes(run):
    # Under systemd, fd 2 is the journal stream named by JOURNAL_STREAM
    # ("dev:ino"): lines go there with <N> priorities instead of syslog.
    run.stderr_path.write_bytes(b"")
    st = os.stat(run.stderr_path)
    run.start(["-M0", "-N", "Broker"], ["50 255 Connection refused"],
              AUTOSSH_LOGFILE=None, AUTOSSH_GATETIME="0",
              JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    assert wait_for(lambda: "<6>ssh exited with status 255" in run.stderr())
    assert "<6>ssh: Connection refused" in run.stderr()
