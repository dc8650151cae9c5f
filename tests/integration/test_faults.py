"""The fault matrix in the lab, each fault with its expected outcome.

Already covered elsewhere, so not repeated here:
- blackhole (silent drop): test_liveness.py (deadline), test_core.py
  (ServerAlive), test_monitor.py (port monitor), test_operators.py (status);
- sshd killed and restarted: test_core.py::test_back_after_sshd_restart,
  test_back_after_sshd_sessions_killed;
- ssh SIGSTOPped: test_monitor.py::test_stopped_client_ssh_is_replaced;
- server session SIGSTOPped: test_monitor.py::test_stopped_server_session_*;
- -R port held: test_operators.py::test_refused_remote_forward_*,
  test_stale.py;
- authentication failure at the first start: test_core.py;
- autossh SIGKILLed: test_core.py, tests/process/test_signals.py;
- ssh ignoring SIGTERM: tests/process/test_signals.py.

Here: a link that flaps for a while, authentication that starts failing
after the tunnel was up, the ssh program vanishing between restarts, the
wall clock stepped by hours (libfaketime), and the log file on a full
filesystem.  Bounds are generous: the machine is shared.
"""

import os
import random
import re
import shutil
import signal
import threading
import time

import pytest

import lab as labmod

# SOAK_FLAP_S (make soak: 60) lengthens the link flap.
FLAP_S = int(os.environ.get("SOAK_FLAP_S", "30"))
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
ERROR_LINE = re.compile(r"^\S+ autossh\[\d+\]: error: (.*)$", re.M)


def wait_new_ssh(prog, old, timeout):
    found = labmod.wait_for(
        lambda: [p for p in prog.ssh_pids() if p not in old], timeout)
    return found[0] if found else None


def no_zombies(prog):
    zombies = labmod.zombie_children(prog.pid)
    assert not zombies, f"zombie children of autossh: {zombies}"


def retry_waits(text):
    """The back-off waits announced in text ("retry in 1.4 s"), seconds."""
    out = []
    for v, unit in re.findall(r"retry in ([0-9.]+) (m?s)\b", text):
        out.append(float(v) / 1000 if unit == "ms" else float(v))
    return out


# --- link flap ---------------------------------------------------------------

@pytest.mark.timeout(FLAP_S + 120)
def test_link_flapping_for_a_while(lab, autossh):
    """The client's link goes down and up every few seconds: autossh rides
    it out (no exit, no zombie, no error), says what the network did, and
    the tunnel answers once the link stays up."""
    prog = autossh(["-M0", "--deadline=10", "-N", "Broker"],
                   env={"AUTOSSH_BACKOFF_MAX": "4"})
    assert lab.wait_tunnel(15) is not None, prog.log_text()
    rng = random.Random(8)      # the same pattern every run
    flaps = 0
    end = time.monotonic() + FLAP_S
    # MQTT traffic all along, so that some flaps catch data in flight
    # (a stalled connection is dropped at once) and some do not.
    stop = threading.Event()
    answered = []

    def traffic():
        while not stop.is_set():
            answered.append(lab.mqtt_roundtrip(timeout=1.5))
            stop.wait(0.3)

    prober = threading.Thread(target=traffic, daemon=True)
    prober.start()
    try:
        while time.monotonic() < end:
            lab.link_down()
            time.sleep(rng.uniform(0.3, 3.0))
            assert prog.alive(), prog.log_text()
            no_zombies(prog)
            lab.link_up()
            time.sleep(rng.uniform(0.5, 4.0))
            assert prog.alive(), prog.log_text()
            no_zombies(prog)
            flaps += 1
    finally:
        stop.set()
        prober.join(10)
        if not lab.link_is_up():
            lab.link_up()
    took = lab.wait_tunnel(30)
    log = prog.log_text()
    assert took is not None, log
    assert prog.alive()
    no_zombies(prog)
    assert len(prog.ssh_pids()) == 1
    assert flaps >= FLAP_S // 5
    assert "network changed" in log or "network: " in log, log
    assert ERROR_LINE.findall(log) == []
    # A flap costs a few starts at most, not a storm.
    starts = log.count("started ssh (pid")
    print(f"\nflap: {flaps} flaps in {FLAP_S} s, {starts} ssh starts, "
          f"{answered.count(True)} of {len(answered)} probes answered")
    assert starts <= 4 * flaps + 2, (starts, flaps)
    # The tunnel worked between flaps too, not only at the end.
    assert answered.count(True) >= len(answered) // 4, answered


# --- authentication fails after the tunnel was up ----------------------------

@pytest.mark.timeout(120)
def test_auth_failure_at_a_later_start_backs_off(lab, autossh):
    """The server stops accepting the key while the tunnel runs (a revoked
    key, a rotated authorized_keys): "Permission denied" is permanent only
    at the first start, so later it is retried with back-off, never given
    up; once the key is back, so is the tunnel."""
    prog = autossh(["-M0", "-N", "Broker"], env={"AUTOSSH_BACKOFF_MAX": "4"})
    assert lab.wait_tunnel(15) is not None, prog.log_text()
    with open(lab.sshd.authorized_keys) as f:
        keys = f.read()
    try:
        labmod.write_file(lab.sshd.authorized_keys, "")
        mark = len(prog.log_text())
        lab.sshd.kill_sessions()

        def denied():
            return prog.log_text()[mark:].count("Permission denied")

        assert labmod.wait_for(lambda: denied() >= 3, 40), prog.log_text()
        t0, starts0 = time.monotonic(), prog.log_text().count("started ssh")
        time.sleep(8)
        assert prog.alive(), prog.log_text()
        no_zombies(prog)
        later = prog.log_text()[mark:]
        # Back-off, not a tight loop: at most one start per 0.5 s or so.
        more = prog.log_text().count("started ssh") - starts0
        assert 1 <= more <= (time.monotonic() - t0) / 0.5, more
        waits = retry_waits(later)
        assert waits and max(waits) <= 4.05, waits
        assert "exiting" not in later and "first start failed" not in later
        assert not lab.mqtt_roundtrip(timeout=1)
    finally:
        labmod.write_file(lab.sshd.authorized_keys, keys)
    assert lab.wait_tunnel(4 + 20) is not None, prog.log_text()
    assert prog.alive()


# --- the ssh program vanishes ------------------------------------------------

@pytest.mark.timeout(120)
def test_ssh_missing_at_a_later_restart(lab, autossh):
    """AUTOSSH_PATH names a copy of ssh that is removed while the tunnel is
    up (a package upgrade half done, an unmounted /usr): the next start
    fails, autossh says why and keeps retrying with back-off; once the
    program is back, the tunnel is too."""
    bindir = os.path.join(lab.home, "bin")
    os.makedirs(bindir, exist_ok=True)
    copy = os.path.join(bindir, "ssh")
    shutil.copy2("/usr/bin/ssh", copy)
    try:
        prog = autossh(["-M0", "-N", "Broker"],
                       env={"AUTOSSH_PATH": "/root/bin/ssh",
                            "AUTOSSH_BACKOFF_MAX": "4"})
        assert lab.wait_tunnel(15) is not None, prog.log_text()
        (first,) = prog.ssh_pids()
        os.unlink(copy)
        lab.sshd.kill_sessions()
        why = ("error: unable to start ssh: /root/bin/ssh: No such file or "
               "directory")
        assert labmod.wait_for(lambda: prog.log_text().count(why) >= 3, 40), \
            prog.log_text()
        assert prog.alive()
        no_zombies(prog)
        assert prog.ssh_pids() == []
        log = prog.log_text()
        after = log[log.index(why):]
        waits = retry_waits(after)
        assert len(waits) >= 3 and max(waits) <= 4.05, waits
        assert "exiting" not in after
        shutil.copy2("/usr/bin/ssh", copy)
        assert lab.wait_tunnel(4 + 20) is not None, prog.log_text()
        assert first not in prog.ssh_pids()
    finally:
        shutil.rmtree(bindir, ignore_errors=True)


# --- the wall clock jumps ----------------------------------------------------

LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{3}Z ", re.M)


def last_stamp(text):
    """The wall clock time of the last log line, in Unix seconds."""
    stamps = LOG_STAMP.findall(text)
    assert stamps
    return time.mktime(time.strptime(stamps[-1], "%Y-%m-%dT%H:%M:%S")) - \
        time.timezone


class ClockWalker:
    """Steps the faked wall clock back by an hour every half second, in a
    thread, while it runs: a wait measured on the wall clock would never
    end, one on the monotonic clock is not affected."""

    def __init__(self, step, start_h):
        self.step = step
        self.hours = start_h
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.5):
            self.hours -= 1
            self.step(f"{self.hours:+d}h")

    def close(self):
        self.stop.set()
        self.thread.join(5)


@pytest.mark.timeout(150)
def test_wall_clock_steps_change_nothing(lab, autossh):
    """CLOCK_REALTIME jumps by hours while autossh runs (an NTP sync on a
    device without a real-time clock); CLOCK_MONOTONIC does not.  Up
    detection, back-off waits and the TERM -> KILL escalation run on the
    monotonic clock (DESIGN.md §The loop), so none of them notices.
    libfaketime moves the wall clock of autossh and its children only, never
    the machine's."""
    if not os.path.exists(LIBFAKETIME):
        pytest.skip("needs libfaketime (scripts/deps installs faketime)")
    rc = os.path.join(lab.home, "faketime.rc")

    def step(offset):
        # Written whole and renamed: libfaketime rereads it at every call.
        tmp = rc + ".tmp"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.rename(tmp, rc)

    step("+0")
    env = {"LD_PRELOAD": LIBFAKETIME,
           "FAKETIME_TIMESTAMP_FILE": "/root/faketime.rc",
           "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           # ASan wants to come first among the preloads; libfaketime
           # only wraps clock calls, which ASan does not intercept.
           "ASAN_OPTIONS": "verify_asan_link_order=0",
           "AUTOSSH_BACKOFF_MAX": "4"}
    walker = None
    try:
        prog = autossh(["-M0", "-N", "Broker"], env=env)
        assert lab.wait_tunnel(15) is not None, prog.log_text()
        (first,) = prog.ssh_pids()

        # 1. Forward by five hours while up: nothing happens.
        step("+5h")
        prog.signal(signal.SIGUSR2)
        assert labmod.wait_for(lambda: "state: up" in prog.log_text(), 10)
        skew = last_stamp(prog.log_text()) - time.time()
        assert 5 * 3600 - 60 < skew < 5 * 3600 + 60, \
            f"libfaketime not in effect: log clock off by {skew:.0f} s"
        time.sleep(3)
        assert prog.ssh_pids() == [first]
        assert lab.mqtt_roundtrip(timeout=5)

        # 2. From here on the wall clock goes back an hour every 0.5 s.
        # A restart of an ssh that cannot take SIGTERM (it is stopped):
        # the KILL still comes 5 s after the TERM.
        walker = ClockWalker(step, 4)
        labmod.stop_pid(first)
        t0 = time.monotonic()
        prog.signal(signal.SIGUSR1)
        second = wait_new_ssh(prog, [first], 30)
        took = time.monotonic() - t0
        assert second, prog.log_text()
        assert 4 < took < 20, took
        assert "sending SIGKILL" in prog.log_text()
        assert lab.wait_tunnel(15) is not None, prog.log_text()

        # 3. Quick failures while the clock keeps going back: every
        # back-off wait ends within the 4 s cap.
        lab.sshd.stop()
        mark = len(prog.log_text())
        lab.sshd.kill_sessions()
        assert labmod.wait_for(
            lambda: len(retry_waits(prog.log_text()[mark:])) >= 2, 45), \
            prog.log_text()
        lab.sshd.start()
        t0 = time.monotonic()
        assert lab.wait_tunnel(4 + 25) is not None, prog.log_text()
        assert time.monotonic() - t0 < 4 + 25
        walker.close()
        log = prog.log_text()
        assert max(retry_waits(log[mark:])) <= 4.05
        skew = last_stamp(log) - time.time()
        assert skew < -3600, f"the wall clock did not go back: {skew:.0f} s"
        # Every duration autossh logged is seconds or minutes, never hours
        # or days: no wall clock went into one.
        assert re.findall(r"after \d+[hd]\d\d[mh]\b", log) == []
        assert prog.alive()
        no_zombies(prog)
    finally:
        if walker is not None:
            walker.close()
        if os.path.exists(rc):
            os.unlink(rc)


# --- the log file on a full filesystem ---------------------------------------

@pytest.mark.timeout(120)
def test_full_log_filesystem_does_not_stop_the_tunnel(lab, autossh_bin):
    """AUTOSSH_LOGFILE is on a filesystem that fills up (16 KiB of tmpfs,
    mounted in the command's own mount namespace, filled by level-7 lines):
    writes fail with ENOSPC, and autossh keeps supervising and restarting
    ssh.  Once space is freed, lines arrive again."""
    full = os.path.join(lab.home, "full")
    os.makedirs(full, exist_ok=True)
    script = ('mount -t tmpfs -o size=16k,mode=0755 tmpfs /root/full && '
              'exec "$@"')
    prog = lab.start_autossh("/bin/sh", ["-c", script, "sh", autossh_bin,
                                         "-M0", "-N", "Broker"],
                             env={"AUTOSSH_LOGFILE": "/root/full/log",
                                  "AUTOSSH_BACKOFF_MAX": "1"},
                             name="fullfs", daemon=False)
    try:
        pid = prog.pid
        # The shell execs autossh, so the pid is autossh's.
        assert labmod.wait_for(
            lambda: labmod.exe_of(pid) == os.path.realpath(autossh_bin), 10)
        log = f"/proc/{pid}/root/root/full/log"
        mnt = f"/proc/{pid}/root/root/full"

        def space():
            return os.statvfs(mnt).f_bavail

        assert lab.wait_tunnel(15) is not None, prog.output()
        # Restart until the log has filled the filesystem.
        for _ in range(30):
            if space() == 0:
                break
            (old,) = prog.ssh_pids()
            prog.signal(signal.SIGUSR1)
            assert wait_new_ssh(prog, [old], 20), prog.output()
            assert lab.wait_tunnel(15) is not None
        assert space() == 0, "the log did not fill 16 KiB"
        size = os.path.getsize(log)
        # Full: restarts of both kinds still work.
        for n in range(4):
            old = prog.ssh_pids()
            assert len(old) == 1
            if n % 2:
                prog.signal(signal.SIGUSR1)
            else:
                lab.sshd.kill_sessions()
            assert wait_new_ssh(prog, old, 20), prog.output()
            assert lab.wait_tunnel(20) is not None
            assert prog.alive()
            no_zombies(prog)
        assert os.path.getsize(log) == size
        # SIGHUP reopens the log; with the disk still full that is fine.
        prog.signal(signal.SIGHUP)
        time.sleep(0.5)
        assert prog.alive()
        # Space again (the operator rotated the log away): lines arrive.
        os.truncate(log, 0)
        prog.signal(signal.SIGUSR2)
        assert labmod.wait_for(lambda: "state: up" in open(log).read(), 10)
        assert lab.mqtt_roundtrip(timeout=5)
        assert "sanitizer" not in prog.output().lower(), prog.output()
    finally:
        stuck = labmod.zombie_children(prog.pid) if prog.alive() else []
        ssh = prog.ssh_pids()
        status = prog.stop()
        assert labmod.wait_for(lambda: not any(map(labmod.alive, ssh)), 10)
        assert not stuck, stuck
    assert status == 1, prog.output()
