#!/usr/bin/python3
"""`make bench`: our autossh beside Debian's autossh 1.4g, same scenarios, same run.

Every scenario runs in the integration lab (tests/integration/lab.py): a client
and a server network namespace, a real sshd and a real mosquitto, the seed's
~/.ssh/config. Each (scenario, program) pair gets a lab of its own in a forked
worker process, and the two programs of a scenario always run at the same time,
so that they share the machine's conditions. Both programs get the same
arguments, the same ssh_config and the same environment.

Figures are read from the outside, so they mean the same for any autossh:
"noticed" is the supervisor's ssh child exiting or being replaced (/proc),
"answers" is an MQTT CONNECT answered by the broker's CONNACK through the
tunnel (confirmed by the lab's publish/subscribe round trip), bytes are counted
by nftables counters in the server namespace, footprint comes from /proc.

The table goes to stdout and to bench/results/latest.md, with the date, the
kernel, both versions and every command line. Ctrl-C or a failure removes the
namespaces and every process. Timing is not a test: this is not part of
`make check`.
"""

import argparse
import errno
import fcntl
import json
import os
import platform
import queue
import random
import re
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import lab as labmod  # noqa: E402  (needs the path above)

OURS, OLD = "ours", "1.4g"
PROGRAMS = (OURS, OLD)

SEED_ALIVE = ["ServerAliveInterval 30", "ServerAliveCountMax 3"]
QUICK_ALIVE = ["ServerAliveInterval 2", "ServerAliveCountMax 3"]
MON_PORT = 20000          # -M 20000 (uses 20000 and 20001)
MON_POLL = "10"           # AUTOSSH_POLL for the monitor scenarios
REVERSE_PORT = 2222       # RemoteForward 2222 ... on the server
REVERSE_TARGET = 7777     # client-side listener the reverse tunnel reaches
REVERSE_BANNER = b"bench-reverse-target\r\n"
STORM_BASE_PORT = 30000   # storm tunnel i forwards 30000+i
HOLD_S = 5                # a blackhole stays this long after it was noticed,
HOLD_JITTER_S = 1.0       # plus up to this much at random: a fixed hold lines
                          # the lift up with a supervisor's once-a-second SYN
                          # and measures the phase, not the recovery
FORGET_HOLD_S = 5         # reverse: blackholed this long after the forget
SSHD_DOWN_S = 2           # sshd restart: stopped this long, sessions killed
SSHD_DOWN_LONG_S = 10     # ... and the slower restart
SSHD_DOWN_JITTER_S = 1.0  # plus up to this much at random: 1.4g sleeps whole
                          # seconds, so a fixed gap measures its phase
SSHD_OUTAGE_S = 60        # sshd down this long: the SYNs of an outage-minute
LINK_DOWN_S = 5
SETTLE_S = 1              # quiet time between "tunnel up" and a fault
START_BOUND_S = 20
STORM_RESTART_AFTER_S = 35  # storm: sshd restarted this long after the start
REVERSE_STARTS_WINDOW_S = 20


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def say(text=""):
    print(text, flush=True)


def now():
    return time.monotonic()


# --- small measuring tools -----------------------------------------------------

class SocketMaker:
    """Makes sockets inside a network namespace from one long-lived thread.

    lab.netns_socket() starts a thread per socket; the probes below make ten
    sockets a second per tunnel, so one thread that entered the namespace
    once serves them all.
    """

    def __init__(self, ns):
        self.ns = ns
        self.requests = queue.Queue()
        self.ready = threading.Event()
        self.error = None
        threading.Thread(target=self._serve, daemon=True).start()
        self.ready.wait()
        if self.error:
            raise self.error

    def _serve(self):
        try:
            fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if labmod._libc.setns(fd, labmod._CLONE_NEWNET) != 0:
                    raise OSError(labmod.ctypes.get_errno(), f"setns {self.ns}")
            finally:
                os.close(fd)
        except OSError as e:
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        while True:
            family, box = self.requests.get()
            try:
                box.put(socket.socket(family, socket.SOCK_STREAM))
            except OSError as e:
                box.put(e)

    def socket(self, family=socket.AF_INET):
        box = queue.Queue(1)
        self.requests.put((family, box))
        got = box.get()
        if isinstance(got, Exception):
            raise got
        return got


def mqtt_connect_packet(client_id):
    """An MQTT 3.1.1 CONNECT with a clean session."""
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    return bytes([0x10, len(var)]) + var


def wait_connack(maker, port, t_ref, deadline, interval=0.1, attempt_s=2.0,
                 stop=None):
    """Seconds from t_ref until an MQTT CONNECT to 127.0.0.1:port is answered
    with a CONNACK, or None at the deadline (or when stop() is true).

    A new attempt starts every interval while earlier ones are still pending
    (each gives up after attempt_s), so a tunnel that starts to work is seen
    within about interval plus one round trip, even while older attempts hang
    in a stalled connection.
    """
    sel = selectors.DefaultSelector()
    packet = mqtt_connect_packet(f"bench-{os.getpid()}-{port}")
    pending = {}
    next_try = now()
    try:
        while True:
            t = now()
            if t >= deadline or (stop and stop()):
                return None
            if t >= next_try and len(pending) < 40:
                next_try = t + interval
                s = maker.socket()
                s.setblocking(False)
                err = s.connect_ex(("127.0.0.1", port))
                if err in (0, errno.EINPROGRESS):
                    st = {"sock": s, "phase": "connect", "buf": b"",
                          "until": t + attempt_s}
                    pending[s] = st
                    sel.register(s, selectors.EVENT_WRITE, st)
                else:
                    s.close()
            wake = min([next_try, deadline] + [st["until"] for st in pending.values()])
            for key, _ in sel.select(max(0.0, wake - now())):
                st = key.data
                s = st["sock"]
                try:
                    if st["phase"] == "connect":
                        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                            raise OSError("connect failed")
                        s.send(packet)
                        st["phase"] = "read"
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    data = s.recv(4 - len(st["buf"]))
                    if not data:
                        raise OSError("closed")
                    st["buf"] += data
                    if len(st["buf"]) == 4:
                        if st["buf"][0] == 0x20 and st["buf"][3] == 0:
                            got = now() - t_ref
                            try:
                                s.send(b"\xe0\x00")  # DISCONNECT
                            except OSError:
                                pass
                            return got
                        raise OSError("not a CONNACK")
                except OSError:
                    sel.unregister(s)
                    pending.pop(s, None)
                    s.close()
            t = now()
            for s, st in list(pending.items()):
                if t >= st["until"]:
                    sel.unregister(s)
                    del pending[s]
                    s.close()
    finally:
        for s in pending:
            s.close()
        sel.close()


def wait_answer(lab, maker, t_ref, bound, port=labmod.TUNNEL_PORT, interval=0.1):
    """Seconds from t_ref until the tunnel answers MQTT (CONNACK, confirmed by
    the lab's publish/subscribe round trip), or None after bound seconds.
    A new MQTT try every interval seconds."""
    deadline = t_ref + bound
    while True:
        got = wait_connack(maker, port, t_ref, deadline, interval=interval)
        if got is None:
            return None
        if lab.mqtt_roundtrip(port, timeout=3.0):
            return got
        # Answered once but the full round trip failed: keep looking.


class SshWatch(threading.Thread):
    """Follows a supervisor's ssh children in /proc every 20 ms: when each was
    first seen and when it was gone, and when the supervisor itself ended."""

    def __init__(self, pid, interval=0.02):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.born = {}       # ssh pid -> monotonic time first seen
        self.gone = {}       # ssh pid -> monotonic time gone (or zombie)
        self.exited_at = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.start()

    def _children(self):
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                return [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            return []

    def run(self):
        while not self._stop.is_set():
            t = now()
            st = labmod.proc_stat(self.pid)
            live = set()
            for c in self._children():
                cs = labmod.proc_stat(c)
                if cs and cs["comm"] == "ssh" and cs["state"] != "Z":
                    live.add(c)
            with self.lock:
                for c in live:
                    self.born.setdefault(c, t)
                for c in self.born:
                    if c not in live and c not in self.gone:
                        self.gone[c] = t
                if (st is None or st["state"] == "Z") and self.exited_at is None:
                    self.exited_at = t
                    for c in self.born:
                        self.gone.setdefault(c, t)
                    return
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()

    def alive_ssh(self):
        with self.lock:
            return {c for c in self.born if c not in self.gone}

    def noticed(self, ssh0, t0, bound):
        """Seconds from t0 until one of ssh0 is gone or the supervisor exited;
        None if neither happened within bound seconds."""
        def check():
            with self.lock:
                times = [self.gone[c] for c in ssh0 if c in self.gone]
                if self.exited_at is not None:
                    times.append(self.exited_at)
            return min(times) if times else None
        got = labmod.wait_for(check, max(0.0, t0 + bound - now()), interval=0.02)
        return None if got is None else max(0.0, got - t0)

    def starts_between(self, t0, t1):
        with self.lock:
            return len([c for c, t in self.born.items() if t0 <= t < t1])


def read_ctxt(pid):
    """Voluntary + involuntary context switches of every thread of pid."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches",
                                        "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def read_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# --- one worker: a lab, one program, one scenario -------------------------------

class Job:
    """One (scenario, program) run; executed in a forked worker."""

    def __init__(self, scenario, program, func, binary, opts, index, workdir):
        self.scenario = scenario
        self.program = program
        self.func = func
        self.binary = binary
        self.opts = opts
        self.index = index
        self.dir = os.path.join(workdir, f"{scenario}-{program}".replace(".", ""))
        self.result_path = self.dir + ".json"
        self.lock_path = os.path.join(workdir, "lab-construction.lock")
        self.commands = []
        self.notes = []

    @property
    def name(self):
        return f"{self.scenario}/{self.program}"

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def command(self, text):
        if text not in self.commands:
            self.commands.append(text)

    def new_lab(self):
        """A lab of this job's own. Construction is serialized across workers
        (`ip netns add` sets up /run/netns on first use)."""
        with open(self.lock_path, "w") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            lab = labmod.Lab(self.dir, index=self.index)
        self.lab = lab
        return lab

    def start(self, lab, args, env=None, name=None):
        """Start the program with the bench's environment; a Supervisor."""
        full_env = {"AUTOSSH_LOGLEVEL": self.opts["loglevel"], **(env or {})}
        shown = [f"{k}={v}" for k, v in (env or {}).items()]
        self.command(" ".join(shown + [self.opts["display"][self.program],
                                       shlex.join(args)]))
        t0 = now()
        prog = lab.start_autossh(self.binary, list(args), env=full_env, name=name)
        return Supervisor(self, lab, prog, t0)

    def grab_liveness_line(self, prog):
        if self.program != OURS:
            return
        for line in prog.log_text().splitlines():
            if "liveness:" in line:
                self.note("ours " + line.split("]: ", 1)[-1])
                return


class Supervisor:
    def __init__(self, job, lab, prog, t0):
        self.job, self.lab, self.prog, self.t0 = job, lab, prog, t0
        if prog.pid is None:
            raise RuntimeError(f"{job.program} did not start: {prog.output()[-500:]}")
        self.watch = SshWatch(prog.pid)

    def ssh_pids(self):
        return set(self.prog.ssh_pids())

    def stop(self):
        self.watch.stop()
        self.job.grab_liveness_line(self.prog)
        if self.prog.alive():
            self.prog.stop()


def median_of(samples):
    """Median with None (not within the bound) counted as slower than any number."""
    if not samples:
        return None
    keyed = sorted(samples, key=lambda v: float("inf") if v is None else v)
    n = len(keyed)
    if n % 2:
        return keyed[n // 2]
    a, b = keyed[n // 2 - 1], keyed[n // 2]
    if a is None or b is None:
        return None
    return (a + b) / 2


def write_config(lab, extra=(), hosts=None):
    """The lab's ssh_config: Host Broker as in the seed plus extra lines."""
    lab.write_ssh_config(extra=list(extra), hosts=hosts)


def config_text(extra, hosts=None):
    parts = ["Host Broker: seed (HostName, Port 22222, User, IdentityFile, "
             "LocalForward 22883 localhost:1883)"
             + ("" if not extra else " + " + "; ".join(extra))]
    for alias, more in (hosts or {}).items():
        parts.append(f"Host {alias}: HostName, Port 22222, User, IdentityFile"
                     + ("" if not more else " + " + "; ".join(more)))
    return parts


def up_or_raise(job, lab, maker, sup, bound=START_BOUND_S):
    got = wait_answer(lab, maker, sup.t0, bound)
    if got is None:
        raise RuntimeError(f"{job.program}: tunnel not up within {bound} s; output: "
                           f"{sup.prog.output()[-400:]}")
    return got


def repeat_runs(job, alive, args, env=None):
    """One lab for the scenario; per repeat, a fresh ssh_config with `alive`
    and a started supervisor. Yields (lab, maker, sup) and stops the
    supervisor when the caller's turn is over. Leaving the loop, by an
    exception too, closes the generator at once (CPython frees it with the
    caller's frame), and that tears the lab down."""
    lab = job.new_lab()
    with lab:
        maker = SocketMaker(lab.client_ns)
        for rep in range(job.repeat):
            if rep:
                lab.reset()
            write_config(lab, alive)
            sup = job.start(lab, args, env=env)
            yield lab, maker, sup
            sup.stop()


# --- scenarios (each runs in a worker; returns {figure: [samples]}) -------------

def sc_start(job):
    figs = {"up": []}
    for lab, maker, sup in repeat_runs(job, SEED_ALIVE,
                                       ["-M", "0", "-f", "-N", "Broker"]):
        figs["up"].append(wait_answer(lab, maker, sup.t0, START_BOUND_S))
    job.config = config_text(SEED_ALIVE)
    job.procedure = (f"start the supervisor; time until the tunnel answers "
                     f"(bound {START_BOUND_S} s)")
    return figs


def _blackhole_once(job, lab, maker, sup, bound, back_bound, figs):
    up_or_raise(job, lab, maker, sup)
    time.sleep(SETTLE_S)
    ssh0 = sup.ssh_pids()
    t0 = now()
    lab.blackhole()
    noticed = sup.watch.noticed(ssh0, t0, bound)
    if noticed is not None:
        time.sleep(HOLD_S + random.uniform(0, HOLD_JITTER_S))
    else:
        time.sleep(max(0.0, t0 + bound - now()))
    t_lift = now()
    lab.lift()
    back = wait_answer(lab, maker, t_lift, back_bound)
    figs["noticed"].append(noticed)
    figs["back"].append(back)
    if noticed is None and back is not None and ssh0 & sup.ssh_pids():
        job.note(f"{job.program}: never noticed; its old ssh carried the tunnel again "
                 "once the link came back")
    if sup.watch.exited_at is not None:
        job.note(f"{job.program}: the supervisor exited (status {sup.prog.wait(1)})")


def sc_blackhole(job, alive, monitor=False):
    figs = {"noticed": [], "back": []}
    bound = job.opts["bound_" + job.scenario]
    back_bound = job.opts["back_bound"]
    env = {"AUTOSSH_POLL": MON_POLL} if monitor else None
    mflag = str(MON_PORT) if monitor else "0"
    for lab, maker, sup in repeat_runs(job, alive,
                                       ["-M", mflag, "-f", "-N", "Broker"], env):
        _blackhole_once(job, lab, maker, sup, bound, back_bound, figs)
    job.config = config_text(alive)
    job.procedure = (f"tunnel up; blackhole (nftables drop of the client's "
                     f"addresses in the server namespace, both ways); noticed = ssh "
                     f"replaced (bound {bound} s); lift {HOLD_S} to "
                     f"{HOLD_S + HOLD_JITTER_S:g} s (at random) after it was "
                     f"noticed (or at the bound); time from the lift until the tunnel "
                     f"answers (bound {back_bound} s)")
    return figs


def sc_hung(job, monitor):
    figs = {"noticed": [], "back": []}
    bound = job.opts["bound_" + job.scenario]
    env = {"AUTOSSH_POLL": MON_POLL} if monitor else None
    mflag = str(MON_PORT) if monitor else "0"
    for lab, maker, sup in repeat_runs(job, [],
                                       ["-M", mflag, "-f", "-N", "Broker"], env):
        up_or_raise(job, lab, maker, sup)
        time.sleep(3)
        ssh0 = sup.ssh_pids()
        t0 = now()
        for p in ssh0:
            labmod.stop_pid(p)
        noticed = sup.watch.noticed(ssh0, t0, bound)
        back = None
        if noticed is not None:
            back = wait_answer(lab, maker, t0, max(0.1, bound - (now() - t0)))
        left = [p for p in ssh0 if labmod.alive(p)]
        if noticed is not None and left:
            job.note(f"{job.program}: the stopped ssh (pid {left[0]}) was still "
                     "there (stopped) after the supervisor moved on")
        for p in ssh0:
            labmod.cont_pid(p)
        figs["noticed"].append(noticed)
        figs["back"].append(back)
    job.config = config_text([])
    job.procedure = (f"tunnel up, 3 s idle; SIGSTOP the supervisor's ssh; noticed "
                     f"= that ssh exits or is replaced; answers = the tunnel answers "
                     f"again, both counted from the SIGSTOP (bound {bound} s)")
    return figs


def _note_replaced(job, ssh0, sup, what):
    if ssh0 & sup.ssh_pids():
        job.note(f"{job.program} ({what}): the same ssh carried on")
    else:
        job.note(f"{job.program} ({what}): ssh was replaced")


def sc_link(job):
    figs = {"back": [], "back_busy": []}
    bound = job.opts["back_bound"]
    for lab, maker, sup in repeat_runs(job, SEED_ALIVE,
                                       ["-M", "0", "-f", "-N", "Broker"]):
        up_or_raise(job, lab, maker, sup)
        time.sleep(SETTLE_S)
        ssh0 = sup.ssh_pids()
        lab.link_down()
        time.sleep(LINK_DOWN_S)
        t_up = now()
        lab.link_up()
        figs["back"].append(wait_answer(lab, maker, t_up, bound))
        _note_replaced(job, ssh0, sup, "idle")

        # The same again with an MQTT client that keeps trying through the
        # outage: its data waits in TCP's retransmission back-off.
        time.sleep(SETTLE_S)
        ssh0 = sup.ssh_pids()
        box = {}
        t_down = now()
        lab.link_down()
        busy = threading.Thread(target=lambda: box.setdefault("t", wait_connack(
            maker, labmod.TUNNEL_PORT, t_down, t_down + LINK_DOWN_S + bound)))
        busy.start()
        time.sleep(LINK_DOWN_S)
        t_up = now()
        lab.link_up()
        busy.join()
        got = box.get("t")
        figs["back_busy"].append(None if got is None
                                 else max(0.0, got - (t_up - t_down)))
        _note_replaced(job, ssh0, sup, "busy")
    job.config = config_text(SEED_ALIVE)
    job.procedure = (f"tunnel up; `ip link set veth0 down` in the client namespace "
                     f"for {LINK_DOWN_S} s, then up; time from the link-up command "
                     f"until the tunnel answers (bound {bound} s). Then the same "
                     f"with an MQTT client trying to connect every 0.1 s during "
                     f"the outage (each try waits up to 2 s)")
    return figs


# sshd is seen listening this soon (its log is read this often), and the tunnel
# is probed this often: the figure is a few tenths of a second.
SSHD_READY_POLL_S = 0.005
SSHD_PROBE_S = 0.02


def _sshd_outage(job, lab, maker, sup, down_s, bound, figs, count_s=None):
    """Tunnel up; sshd's listener stopped and every session killed; sshd back
    down_s seconds after the kill. Appends the time from sshd listening until
    the tunnel answers, and the SYNs that reached sshd's port in the first
    count_s seconds (default: until sshd is back)."""
    up_or_raise(job, lab, maker, sup)
    time.sleep(SETTLE_S)
    _syn_count_on(lab, job)
    lab.sshd.stop()
    t_kill = now()
    lab.sshd.kill_sessions()
    if count_s is not None:
        time.sleep(max(0.0, t_kill + count_s - now()))
        syn, syn_bytes = _syn_count_read(lab)
        count_text = f"in the first {count_s:g} s"
    time.sleep(max(0.0, t_kill + down_s - now()))
    if count_s is None:
        syn, syn_bytes = _syn_count_read(lab)
        count_text = f"in {now() - t_kill:.1f} s"
    lab.sshd.start(interval=SSHD_READY_POLL_S)
    t_back = now()
    back = wait_answer(lab, maker, t_back, bound, interval=SSHD_PROBE_S)
    figs["back"].append(back)
    figs["down"].append(t_back - t_kill)
    figs["syns"].append(syn)
    figs["syns_detail"].append(f"{syn_bytes} B with the RSTs, {count_text}")
    if sup.watch.exited_at is not None:
        job.note(f"{job.program}: the supervisor exited")


def sc_sshd_restart(job, down_s):
    figs = {"back": [], "down": [], "syns": [], "syns_detail": []}
    bound = job.opts["back_bound"]
    for lab, maker, sup in repeat_runs(job, SEED_ALIVE,
                                       ["-M", "0", "-f", "-N", "Broker"]):
        _sshd_outage(job, lab, maker, sup,
                     down_s + random.uniform(0, SSHD_DOWN_JITTER_S), bound, figs)
    job.config = config_text(SEED_ALIVE)
    job.procedure = (f"tunnel up; stop sshd's listener, SIGKILL every session, start "
                     f"sshd again {down_s} to {down_s + SSHD_DOWN_JITTER_S:g} s "
                     f"(at random) after the kill; time from sshd listening again "
                     f"(its log read every {SSHD_READY_POLL_S * 1000:g} ms) until the "
                     f"tunnel answers (an MQTT try every {SSHD_PROBE_S * 1000:g} ms; "
                     f"bound {bound} s)")
    return figs


def sc_sshd_down(job):
    figs = {"back": [], "down": [], "syns": [], "syns_detail": []}
    bound = job.opts["back_bound"]
    for lab, maker, sup in repeat_runs(job, SEED_ALIVE,
                                       ["-M", "0", "-f", "-N", "Broker"]):
        _sshd_outage(job, lab, maker, sup, SSHD_OUTAGE_S + random.uniform(
            0, SSHD_DOWN_JITTER_S), bound, figs, count_s=SSHD_OUTAGE_S)
    job.config = config_text(SEED_ALIVE)
    job.procedure = (f"tunnel up; stop sshd's listener, SIGKILL every session; "
                     f"SYNs from the client to sshd's port counted by nftables in "
                     f"the server namespace for the first {SSHD_OUTAGE_S} s (bytes: "
                     f"those SYNs and the kernel's RSTs, at IP level); sshd started "
                     f"again {SSHD_OUTAGE_S} to {SSHD_OUTAGE_S + SSHD_DOWN_JITTER_S:g} "
                     f"s (at random) after the kill; time from sshd listening until "
                     f"the tunnel answers (bound {bound} s)")
    return figs


def _reverse_target(maker, stop):
    """The client-side service the reverse tunnel reaches: a banner, then close."""
    srv = maker.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", REVERSE_TARGET))
    srv.listen(16)
    srv.settimeout(0.2)

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                c.sendall(REVERSE_BANNER)
            except OSError:
                pass
            c.close()
        srv.close()
    threading.Thread(target=serve, daemon=True).start()


def _reverse_listeners(lab):
    """Pids of the processes listening on REVERSE_PORT in the server namespace."""
    r = lab.server_run(["ss", "-Hltnp", f"sport = :{REVERSE_PORT}"], quiet=True)
    return {int(m) for m in re.findall(r"pid=(\d+)", r.stdout or "")}


def _reverse_answers(server_maker):
    s = server_maker.socket()
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", REVERSE_PORT))
        got = b""
        while len(got) < len(REVERSE_BANNER):
            data = s.recv(64)
            if not data:
                break
            got += data
        return got == REVERSE_BANNER
    except OSError:
        return False
    finally:
        s.close()


def sc_reverse(job):
    figs = {"back": [], "starts": []}
    bound = job.opts["back_bound"]
    hosts = {"Reverse": [f"RemoteForward {REVERSE_PORT} localhost:{REVERSE_TARGET}",
                         "ExitOnForwardFailure yes", *SEED_ALIVE]}
    lab = job.new_lab()
    stop = threading.Event()
    with lab:
        maker = SocketMaker(lab.client_ns)
        server_maker = SocketMaker(lab.server_ns)
        _reverse_target(maker, stop)
        write_config(lab, SEED_ALIVE, hosts=hosts)
        sup = job.start(lab, ["-M", "0", "-f", "-N", "Reverse"])
        if not labmod.wait_for(lambda: _reverse_answers(server_maker), START_BOUND_S,
                               interval=0.2):
            raise RuntimeError(f"{job.program}: reverse tunnel not up")
        # Let the check's channel close finish: data the server still had to
        # send after the lift would draw a RST and clear the stale session.
        time.sleep(SETTLE_S)
        stale = _reverse_listeners(lab)
        lab.blackhole()
        forgotten = lab.forget_client_connections()
        time.sleep(FORGET_HOLD_S)
        t_lift = now()
        lab.lift()
        back = None
        stale_seen = True

        # Connecting to the port while the stale session holds it would make
        # that session send on its dead connection and draw the RST that frees
        # it: so only a listener owned by a new session is tried.
        while now() < t_lift + bound:
            owners = _reverse_listeners(lab)
            if not owners & stale:
                stale_seen = False
            if owners and not owners & stale and _reverse_answers(server_maker):
                back = now() - t_lift
                break
            time.sleep(0.1)
        rest = t_lift + REVERSE_STARTS_WINDOW_S - now()
        if rest > 0:
            time.sleep(rest)
        figs["back"].append(back)
        figs["starts"].append(sup.watch.starts_between(
            t_lift, t_lift + REVERSE_STARTS_WINDOW_S))
        if forgotten < 1:
            job.note(f"{job.program}: forget_client_connections() found no socket")
        if back is None and stale_seen:
            job.note(f"{job.program}: the stale session still held port "
                     f"{REVERSE_PORT} at the bound")
        stop.set()
        sup.stop()
    job.config = config_text(SEED_ALIVE, hosts)
    job.procedure = (
        f"reverse tunnel up (server's 127.0.0.1:{REVERSE_PORT} reaches a "
        f"client-side banner on {REVERSE_TARGET}); blackhole; `ss -K` the client's "
        f"connection (its RST is dropped: sshd keeps a stale session holding the "
        f"port); lift {FORGET_HOLD_S} s later; time until a connection to "
        f"{REVERSE_PORT} in the server namespace gets the banner through a new "
        f"session (bound {bound} s), and ssh starts in the "
        f"{REVERSE_STARTS_WINDOW_S} s after the lift")
    return figs


NFT_COUNT_TABLE = "ashbench_count"


def _count_on(lab, job):
    """nftables counters in the server namespace for everything from and to
    the client's addresses (IP packet bytes, i.e. without the link header)."""
    c, c6 = lab.client_addr, lab.client_addr6
    ruleset = "\n".join([
        f"add table inet {NFT_COUNT_TABLE}",
        f"delete table inet {NFT_COUNT_TABLE}",
        f"table inet {NFT_COUNT_TABLE} {{",
        "  chain input {",
        "    type filter hook input priority filter + 10; policy accept;",
        f"    ip saddr {c} counter",
        f"    ip6 saddr {c6} counter",
        "  }",
        "  chain output {",
        "    type filter hook output priority filter + 10; policy accept;",
        f"    ip daddr {c} counter",
        f"    ip6 daddr {c6} counter",
        "  }",
        "}", ""])
    path = os.path.join(job.dir, "count.nft")
    with open(path, "w") as f:
        f.write(ruleset)
    r = lab.server_run(["nft", "-f", path])
    if r.returncode != 0:
        raise RuntimeError(f"nft: {r.stderr}")


def _count_read(lab):
    r = lab.server_run(["nft", "list", "table", "inet", NFT_COUNT_TABLE], quiet=True)
    pk = by = 0
    for m in re.finditer(r"counter packets (\d+) bytes (\d+)", r.stdout):
        pk += int(m.group(1))
        by += int(m.group(2))
    return pk, by


NFT_SYN_TABLE = "ashbench_syn"


def _syn_count_on(lab, job):
    """nftables counters in the server namespace: connection attempts (SYN
    without ACK) from the client to sshd's port, and the RSTs sent back."""
    c, c6, port = lab.client_addr, lab.client_addr6, labmod.SSHD_PORT
    syn = "tcp flags & (syn | ack) == syn"
    ruleset = "\n".join([
        f"add table inet {NFT_SYN_TABLE}",
        f"delete table inet {NFT_SYN_TABLE}",
        f"table inet {NFT_SYN_TABLE} {{",
        "  chain input {",
        "    type filter hook input priority filter + 10; policy accept;",
        f"    ip saddr {c} tcp dport {port} {syn} counter",
        f"    ip6 saddr {c6} tcp dport {port} {syn} counter",
        "  }",
        "  chain output {",
        "    type filter hook output priority filter + 10; policy accept;",
        f"    ip daddr {c} tcp sport {port} tcp flags & rst == rst counter",
        f"    ip6 daddr {c6} tcp sport {port} tcp flags & rst == rst counter",
        "  }",
        "}", ""])
    path = os.path.join(job.dir, "syn.nft")
    with open(path, "w") as f:
        f.write(ruleset)
    r = lab.server_run(["nft", "-f", path])
    if r.returncode != 0:
        raise RuntimeError(f"nft: {r.stderr}")


def _syn_count_read(lab):
    """(SYNs, bytes of those SYNs and of the RSTs) since _syn_count_on()."""
    r = lab.server_run(["nft", "list", "table", "inet", NFT_SYN_TABLE], quiet=True)
    syns = by = 0
    for line in r.stdout.splitlines():
        m = re.search(r"counter packets (\d+) bytes (\d+)", line)
        if m:
            by += int(m.group(2))
            if "dport" in line:
                syns += int(m.group(1))
    return syns, by


def sc_idle(job, alive):
    window = job.opts["idle_window"]
    lab = job.new_lab()
    with lab:
        maker = SocketMaker(lab.client_ns)
        write_config(lab, alive)
        sup = job.start(lab, ["-M", "0", "-f", "-N", "Broker"])
        up_or_raise(job, lab, maker, sup)
        time.sleep(5)   # the probe's channels close, ssh settles
        ssh0 = sup.ssh_pids()
        pid = sup.prog.pid
        _count_on(lab, job)
        log0 = labmod._size(sup.prog.log_path)
        sw0 = read_ctxt(pid)
        t0 = now()
        time.sleep(window)
        pk, by = _count_read(lab)
        sw1 = read_ctxt(pid)
        # Anything the supervisor logged while idle explains its wake-ups
        # (a SIGUSR2 from someone's `autossh --status`, for instance).
        logged = labmod._read(sup.prog.log_path, log0).splitlines()
        if logged:
            job.note(f"{job.program}: logged {len(logged)} line(s) during the idle "
                     f"window, first: {logged[0][:160]}")
        elapsed = now() - t0
        rss = read_rss_kb(pid)
        fds = len(labmod.open_fds(pid))
        if ssh0 != sup.ssh_pids():
            job.note(f"{job.program}: ssh was replaced during the idle window")
        sup.stop()
    job.config = config_text(alive)
    job.procedure = (f"tunnel up, 5 s to settle, then {window} s idle: bytes counted "
                     f"by nftables counters in the server namespace (IP packets from "
                     f"and to the client), scaled to a day; the supervisor's VmRSS and "
                     f"open descriptors at the end, its context switches (voluntary + "
                     f"involuntary) over the window, scaled to an hour; "
                     f"AUTOSSH_LOGLEVEL={job.opts['loglevel']} for both")
    return {"bytes_day": [by * 86400.0 / elapsed], "packets": [pk],
            "window": [elapsed], "rss_kb": [rss], "fds": [fds],
            "wakeups_h": [(sw1 - sw0) * 3600.0 / elapsed if sw0 is not None
                          and sw1 is not None else None],
            "wakeups_h_detail": [(f"{sw1 - sw0} in {elapsed:.0f} s"
                                  if sw0 is not None and sw1 is not None else "")
                                 + (f"; it logged {len(logged)} line(s) meanwhile, "
                                    "see the notes" if logged else "")],
            "bytes_day_detail": [f"{by} B in {elapsed:.0f} s"]}


class ArrivalLog(threading.Thread):
    """Tails sshd's log (sshd -e writes no time stamps) and stamps each new
    connection as it is read: accepted ("Connection from") or dropped by
    MaxStartups ("drop connection #")."""

    PAT = re.compile(r"Connection from \S+ port \d+ on|drop connection #\d+")

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.offset = os.path.getsize(path)
        self.events = []   # (time, "accept"|"drop")
        self._stop = threading.Event()
        self.start()

    def run(self):
        buf = b""
        while not self._stop.is_set():
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
            if data:
                t = now()
                self.offset += len(data)
                buf += data
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    m = self.PAT.search(line.decode(errors="replace"))
                    if m:
                        kind = "drop" if m.group(0).startswith("drop") else "accept"
                        self.events.append((t, kind))
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()


def _storm_wait(sups, maker, t_ref, bound, ports=None):
    """Per tunnel: seconds from t_ref until it answers (None: not within bound
    or its supervisor exited)."""
    deadline = t_ref + bound
    out = [None] * len(sups)
    ports = ports or [STORM_BASE_PORT + i for i in range(len(sups))]

    def one(i):
        sup = sups[i]
        out[i] = wait_connack(maker, ports[i], t_ref, deadline,
                              interval=0.2, stop=lambda: not sup.prog.alive())
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(sups))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def sc_storm(job):
    n = job.opts["storm"]
    b1, b2 = job.opts["bound_storm_start"], job.opts["bound_storm"]
    hosts = {"Storm": list(SEED_ALIVE)}
    figs = {}
    lab = job.new_lab()
    with lab:
        maker = SocketMaker(lab.client_ns)
        write_config(lab, SEED_ALIVE, hosts=hosts)
        t0 = now()
        sups = []
        for i in range(n):
            args = ["-M", "0", "-N", "-L", f"{STORM_BASE_PORT + i}:localhost:"
                    f"{labmod.MQTT_PORT}", "Storm"]
            sups.append(job.start(lab, args, name=f"storm-{i}"))
        first = _storm_wait(sups, maker, t0, b1)
        up = [v for v in first if v is not None]
        live = [s for s in sups if s.prog.alive()]
        figs["start_all"] = [max(up) if up and len(up) == len(live) else None]
        figs["start_all_detail"] = [f"{len(up)} of {n} answered"
                                    if len(up) < n else ""]
        figs["start_gave_up"] = [n - len(live)]

        # sshd goes away long after the start, as a real restart would: past
        # the supervisors' gate time, so that a failure is not a first start's.
        time.sleep(max(2.0, t0 + STORM_RESTART_AFTER_S - now()))
        arrivals = ArrivalLog(lab.sshd.log_path)
        lab.sshd.stop()
        lab.sshd.kill_sessions()
        time.sleep(SSHD_DOWN_S)
        lab.sshd.start()
        t_back = now()
        second = _storm_wait(live, maker, t_back, b2, ports=[
            STORM_BASE_PORT + sups.index(s) for s in live])
        back = [v for v in second if v is not None]
        t_end = t_back + (max(back) if len(back) == len(live) and back else b2)
        time.sleep(0.2)
        arrivals.stop()
        ev = [(t - t_back, k) for t, k in arrivals.events if t <= t_end + 0.1]
        acc = [t for t, k in ev if k == "accept"]
        drops = [t for t, k in ev if k == "drop"]
        allev = sorted(acc + drops)
        figs["all_back"] = [max(back) if back and len(back) == len(live) else None]
        figs["all_back_detail"] = [f"{len(back)} of {len(live)} answered"
                                   if len(back) < n else ""]
        figs["first_arrival"] = [allev[0] if allev else None]
        figs["spread"] = [allev[-1] - allev[0] if len(allev) > 1 else None]
        figs["spread_detail"] = [f"{len(allev)} arrivals"]
        figs["arrivals"] = [len(allev)]
        figs["arrivals_detail"] = [f"{len(drops)} dropped by MaxStartups"]
        figs["gave_up"] = [sum(1 for s in sups if not s.prog.alive())]
        if back:
            figs["median_back"] = [statistics.median(back)]
        per_s = {}
        for t in allev:
            per_s[int(t)] = per_s.get(int(t), 0) + 1
        job.note(f"{job.program}: connections reaching sshd per second after it was "
                 f"back: " + ", ".join(f"{k}s:{v}" for k, v in sorted(per_s.items())))
        for s in sups:
            s.watch.stop()
            if s.prog.alive():
                s.prog.signal(signal.SIGTERM)
        for s in sups:
            if s.prog.alive():
                s.prog.stop(5)
        job.grab_liveness_line(sups[0].prog)
    job.config = config_text(SEED_ALIVE, hosts)
    job.procedure = (
        f"{n} supervisors started at once in the foreground (as under a service "
        f"manager: no -f, so the gate time applies), each with its own -L; time "
        f"until all answer MQTT (bound {b1} s). {STORM_RESTART_AFTER_S} s after the "
        f"start (past the 30 s gate time), sshd's listener stopped, every "
        f"session SIGKILLed, sshd started again {SSHD_DOWN_S} s later; time from "
        f"sshd listening until all answer (bound {b2} s); arrivals of connections at "
        f"sshd (accepted or dropped by MaxStartups, read from its log) until then; "
        f"gave up = supervisor exited")
    return figs


# --- the plan -----------------------------------------------------------------

class Scenario:
    def __init__(self, key, title, func, repeat=1, stage=1, full_only=False):
        self.key, self.title, self.func = key, title, func
        self.repeat, self.stage, self.full_only = repeat, stage, full_only


SCENARIOS = [
    Scenario("start", "start", sc_start, repeat=3, stage=1),
    Scenario("blackhole-short", "blackhole, -M 0, ServerAlive 2/3 (short)",
             lambda j: sc_blackhole(j, QUICK_ALIVE), repeat=3, stage=1),
    Scenario("link", f"link down {LINK_DOWN_S} s, then up (seed config)", sc_link,
             repeat=3, stage=1),
    Scenario("sshd-restart", f"sshd restart, back listening {SSHD_DOWN_S} s "
             "after the kill (sessions killed)",
             lambda j: sc_sshd_restart(j, SSHD_DOWN_S), repeat=3, stage=1),
    Scenario("sshd-restart-10", f"sshd restart, back listening {SSHD_DOWN_LONG_S} s "
             "after the kill (sessions killed)",
             lambda j: sc_sshd_restart(j, SSHD_DOWN_LONG_S), repeat=3, stage=1),
    Scenario("blackhole-seed", "blackhole, -M 0, seed ServerAlive 30/3",
             lambda j: sc_blackhole(j, SEED_ALIVE), stage=2, full_only=True),
    Scenario("blackhole-noalive", "blackhole, -M 0, no ServerAlive",
             lambda j: sc_blackhole(j, []), stage=2),
    Scenario("blackhole-monitor", f"blackhole, -M {MON_PORT}, AUTOSSH_POLL={MON_POLL}",
             lambda j: sc_blackhole(j, [], monitor=True), stage=2),
    Scenario("hung-monitor", f"hung ssh (SIGSTOP), -M {MON_PORT}, AUTOSSH_POLL={MON_POLL}",
             lambda j: sc_hung(j, True), stage=2),
    Scenario("hung-m0", "hung ssh (SIGSTOP), -M 0", lambda j: sc_hung(j, False), stage=2),
    Scenario("reverse", f"-R {REVERSE_PORT} back after a silent outage", sc_reverse,
             stage=2),
    Scenario("sshd-down", f"sshd down {SSHD_OUTAGE_S} s (sessions killed)",
             sc_sshd_down, stage=2),
    Scenario("idle-seed", "idle, seed config (ServerAlive 30/3)",
             lambda j: sc_idle(j, SEED_ALIVE), stage=2),
    Scenario("idle-noalive", "idle, no ServerAlive (ours: defaults)",
             lambda j: sc_idle(j, []), stage=2),
    Scenario("storm", "storm", sc_storm, stage=3),
]
SCENARIO_KEYS = [s.key for s in SCENARIOS]

# The table: (scenario key, figure label, figure key, kind). kind: "s" seconds,
# "n" a count, "bytes" bytes a day, "kb", "rate" per hour; a trailing "!" marks
# figures where lower is not simply better (no ratio).
ROWS = [
    ("start", "start → MQTT answers, s", "up", "s"),
    ("blackhole-short", "noticed (ssh replaced), s", "noticed", "s"),
    ("blackhole-short", "lift → answers, s", "back", "s"),
    ("blackhole-seed", "noticed (ssh replaced), s", "noticed", "s"),
    ("blackhole-seed", "lift → answers, s", "back", "s"),
    ("blackhole-noalive", "noticed (ssh replaced), s", "noticed", "s"),
    ("blackhole-noalive", "lift → answers, s", "back", "s"),
    ("blackhole-monitor", "noticed (ssh replaced), s", "noticed", "s"),
    ("blackhole-monitor", "lift → answers, s", "back", "s"),
    ("hung-monitor", "noticed, s", "noticed", "s"),
    ("hung-monitor", "SIGSTOP → answers again, s", "back", "s"),
    ("hung-m0", "noticed, s", "noticed", "s"),
    ("hung-m0", "SIGSTOP → answers again, s", "back", "s"),
    ("link", "link up → answers, s", "back", "s"),
    ("link", "link up → answers, client trying during the outage, s", "back_busy",
     "s"),
    ("sshd-restart", "sshd listening → answers, s", "back", "s"),
    ("sshd-restart", "SYNs to sshd while it was down", "syns", "n!"),
    ("sshd-restart-10", "sshd listening → answers, s", "back", "s"),
    ("sshd-restart-10", "SYNs to sshd while it was down", "syns", "n!"),
    ("sshd-down", "SYNs to sshd in the first minute of the outage", "syns", "n!"),
    ("sshd-down", "sshd listening → answers, s", "back", "s"),
    ("reverse", "lift → server's port answers, s", "back", "s"),
    ("reverse", f"ssh starts in {REVERSE_STARTS_WINDOW_S} s after the lift", "starts",
     "n!"),
    ("idle-seed", "idle bytes a day (IP)", "bytes_day", "bytes"),
    ("idle-noalive", "idle bytes a day (IP)", "bytes_day", "bytes"),
    ("idle-seed", "footprint: supervisor RSS, KB", "rss_kb", "kb"),
    ("idle-seed", "footprint: supervisor open fds", "fds", "n"),
    ("idle-seed", "footprint: supervisor wake-ups an hour", "wakeups_h", "rate"),
    ("storm", "{n} started at once: all still running answer, s", "start_all", "s"),
    ("storm", "{n} started at once: gave up", "start_gave_up", "n"),
    ("storm", "sshd back → all still running answer, s", "all_back", "s"),
    ("storm", "sshd back → median tunnel answers, s", "median_back", "s"),
    ("storm", "reconnect arrivals at sshd, first → last, s", "spread", "s!"),
    ("storm", "connections reaching sshd until then", "arrivals", "n!"),
    ("storm", "gave up (supervisor exited), in all", "gave_up", "n"),
]


def build_options(args):
    full = args.full
    display = {OURS: os.path.relpath(args.autossh, REPO)
               if args.autossh.startswith(REPO + "/") else args.autossh,
               OLD: args.autossh14}
    if not display[OURS].startswith("/"):
        display[OURS] = "./" + display[OURS]
    return {
        "full": full,
        "loglevel": str(args.loglevel),
        "display": display,
        "storm": args.storm,
        "back_bound": 120 if full else 60,
        "bound_blackhole-short": 60,
        "bound_blackhole-seed": 200,
        "bound_blackhole-noalive": 300 if full else 60,
        "bound_blackhole-monitor": 120 if full else 60,
        "bound_hung-monitor": 120 if full else 60,
        "bound_hung-m0": 120 if full else 30,
        "idle_window": 600 if full else 65,
        "bound_storm_start": 120 if full else 60,
        "bound_storm": 180 if full else 60,
    }


def scenario_bound(opts, key):
    if key in ("blackhole-short", "blackhole-seed", "blackhole-noalive",
               "blackhole-monitor", "hung-monitor", "hung-m0"):
        return opts["bound_" + key]
    return None


# --- running workers ------------------------------------------------------------

def _child(job):
    """In the forked worker: run the job, write its result, never return."""
    res = {"scenario": job.scenario, "program": job.program}
    # The first Ctrl-C/SIGTERM ends the job; later ones must not interrupt
    # the lab's teardown.
    def interrupt_once(signo, frame):
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signo}")
    for sig in STOP_SIGNALS:
        signal.signal(sig, interrupt_once)
    try:
        os.makedirs(job.dir, exist_ok=True)
        res["figs"] = job.func(job)
    except BaseException as e:  # noqa: BLE001 (Ctrl-C too: report and leave)
        res["error"] = f"{type(e).__name__}: {e}"
        res["trace"] = traceback.format_exc()
    res["commands"] = job.commands
    res["notes"] = job.notes
    res["config"] = getattr(job, "config", [])
    res["procedure"] = getattr(job, "procedure", "")
    res["dir"] = job.dir
    try:
        with open(job.result_path, "w") as f:
            json.dump(res, f)
    finally:
        os._exit(0)


def run_stage(jobs, parallel, started_at):
    """Run jobs in forked workers, at most parallel at once; their results."""
    pending = list(jobs)
    running = {}
    results = []
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                sys.stdout.flush()
                pid = os.fork()
                if pid == 0:
                    _child(job)
                running[pid] = (job, now())
            pid, _ = os.wait()
            if pid not in running:
                continue
            job, t = running.pop(pid)
            try:
                with open(job.result_path) as f:
                    res = json.load(f)
            except (OSError, ValueError):
                res = {"scenario": job.scenario, "program": job.program,
                       "error": "worker died without a result"}
            res["seconds"] = now() - t
            results.append(res)
            say(f"[{now() - started_at:6.0f} s] {job.name}: done in "
                f"{res['seconds']:.0f} s" + (f" — ERROR {res['error']}"
                                             if res.get("error") else ""))
    except BaseException:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        # Ctrl-C reached the workers too (same process group); SIGTERM does
        # the same for a signal sent to this process alone. Each worker tears
        # its lab down; stragglers are killed and their namespaces swept.
        for pid in running:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = now() + 40
        while running and now() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                running.pop(pid, None)
            else:
                time.sleep(0.1)
        for pid in running:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        labmod.sweep_stale_labs()
        raise
    return results


# --- the report -----------------------------------------------------------------

def fmt_value(v, kind, bound):
    if v is None:
        return f"not within {bound} s" if bound else "n/a"
    k = kind.rstrip("!")
    if k == "s":
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    if k == "bytes":
        if v == 0:
            return "0"
        return f"{v / 1000:.0f} KB"
    if k == "rate":
        return f"{v:.0f}"
    return f"{v:.0f}" if isinstance(v, (int, float)) else str(v)


def fmt_ratio(ours, old, kind, bound_o, bound_n):
    if kind.endswith("!"):
        return "—"
    if ours is None and old is None:
        return "—"
    if old is None:
        return f"> {bound_n / ours:.1f}×" if ours and ours > 0 else "ours better"
    if ours is None:
        return f"< {old / bound_o:.2f}× (ours worse)"
    if ours == 0 and old == 0:
        return "—"
    if ours == 0:
        return "ours: none"
    if old == 0:
        return "1.4g: none"
    return f"{old / ours:.1f}×"


def cell(res, fig, kind, bound):
    if res is None:
        return "not run", None, 0
    if res.get("error"):
        return "error", None, 0
    samples = res.get("figs", {}).get(fig)
    if not samples:
        return "n/a", None, 0
    med = median_of(samples)
    text = fmt_value(med, kind, bound)
    detail = res.get("figs", {}).get(fig + "_detail")
    if detail and len(samples) == 1 and detail[0]:
        text += f" ({detail[0]})"
    if len(samples) > 1:
        nums = [s for s in samples if s is not None]
        misses = len(samples) - len(nums)
        if nums and kind.rstrip("!") == "s":
            lo, hi = min(nums), max(nums)
            text += f" ({fmt_value(lo, kind, bound)}–{fmt_value(hi, kind, bound)}"
            text += f", {misses} not within)" if misses else ")"
    return text, med, len(samples)


def render(results, opts, meta):
    by = {(r["scenario"], r["program"]): r for r in results}
    ran = {r["scenario"] for r in results}
    n = opts["storm"]
    lines = []
    lines.append("# autossh benchmark: ours vs Debian's autossh 1.4g")
    lines.append("")
    lines.append(f"- date: {meta['date']}")
    lines.append(f"- mode: {'full (--full)' if opts['full'] else 'quick'}; "
                 f"run took {meta['duration']:.0f} s")
    lines.append(f"- machine: {meta['machine']}")
    lines.append(f"- ours: `{meta['ours_version']}` ({opts['display'][OURS]}); "
                 f"1.4g: `{meta['old_version']}` ({opts['display'][OLD]}); "
                 f"{meta['ssh_version']}")
    if meta.get("syn_linear") is not None:
        lines.append(f"- net.ipv4.tcp_syn_linear_timeouts = {meta['syn_linear']}: "
                     "this kernel retries a SYN every second for the first "
                     f"{meta['syn_linear']} retries (older kernels, such as "
                     "Debian 12's 6.1, double the wait each time), which helps a "
                     "plain ssh that is connecting when the link comes back")
    lines.append("- median of the runs in the \"runs\" column (range in brackets); "
                 "\"not within N s\" = did not happen within the scenario's bound")
    lines.append("- ratio = 1.4g's figure ÷ ours (above 1: ours is better by that "
                 "factor; lower is better for every figure with a ratio)")
    lines.append("")
    lines.append("| scenario | figure | runs | ours | 1.4g | 1.4g ÷ ours |")
    lines.append("|---|---|---|---|---|---|")
    titles = {s.key: s.title for s in SCENARIOS}
    last = None
    for key, label, fig, kind in ROWS:
        if key not in ran:
            continue
        if key == "storm":
            title = f"storm: {n} tunnels, one sshd"
        else:
            title = titles[key]
        bound = scenario_bound(opts, key)
        if fig == "back":
            bound = opts["back_bound"] if key not in ("hung-monitor", "hung-m0") \
                else scenario_bound(opts, key)
        if key == "start":
            bound = START_BOUND_S
        if key == "storm":
            bound = opts["bound_storm_start"] if fig.startswith("start") \
                else opts["bound_storm"]
        ro, rn = by.get((key, OURS)), by.get((key, OLD))
        to, vo, cnt = cell(ro, fig, kind, bound)
        tn, vn, cnt2 = cell(rn, fig, kind, bound)
        ratio = fmt_ratio(vo, vn, kind, bound, bound) \
            if not (ro or {}).get("error") and not (rn or {}).get("error") else "—"
        if key == "idle-noalive" and vn == 0:
            tn = (tn[:-1] + "; never notices a dead link)" if tn.endswith(")")
                  else tn + " (never notices a dead link)")
            ratio = "— (1.4g sends nothing, never notices)"
        label = label.format(n=n)
        lines.append(f"| {title if title != last else ''} | {label} | "
                     f"{max(cnt, cnt2) or ''} | {to} | {tn} | {ratio} |")
        last = title
    lines.append("")
    lines.append("## Scenarios and command lines")
    lines.append("")
    lines.append(
        "Every supervisor runs in the lab's client namespace "
        "(`ip netns exec <client ns> unshare --mount ... sh -c 'mount --bind <lab home> "
        "/root && exec ...'`, so ssh reads the lab's ~/.ssh/config), with the lab's "
        "environment (PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, "
        "HOME=/root, LC_ALL=C), AUTOSSH_LOGFILE=<lab dir>/<name>.log and "
        f"AUTOSSH_LOGLEVEL={opts['loglevel']} (the default level); every other "
        "variable at its default, identical for both programs. The server is "
        "`/usr/sbin/sshd -D -e -f <lab sshd_config>` (LogLevel DEBUG3, defaults "
        "otherwise: no ClientAlive, MaxStartups 10:30:100) and mosquitto on the "
        "server's 127.0.0.1:1883.")
    lines.append("")
    for s in SCENARIOS:
        if s.key not in ran:
            continue
        ro, rn = by.get((s.key, OURS)), by.get((s.key, OLD))
        any_r = ro or rn
        lines.append(f"### {s.key}: {titles[s.key] if s.key != 'storm' else 'storm'}")
        lines.append("")
        if any_r.get("procedure"):
            lines.append(f"- procedure: {any_r['procedure']}")
        for c in any_r.get("config", []):
            lines.append(f"- ssh_config {c}")
        for prog, r in ((OURS, ro), (OLD, rn)):
            if r is None:
                continue
            cmds = r.get("commands", [])
            if s.key == "storm" and len(cmds) > 2:
                cmds = [cmds[0], "...", cmds[-1]]
            for c in cmds:
                lines.append(f"- {prog}: `{c}`" if c != "..." else f"- {prog}: ...")
            if r.get("error"):
                lines.append(f"- {prog}: ERROR {r['error']} (logs: {r.get('dir')})")
            for note in r.get("notes", []):
                lines.append(f"- note: {note}")
            lines.append(f"- {prog}: {r.get('seconds', 0):.0f} s of wall time")
        lines.append("")
    return "\n".join(lines) + "\n"


def version_of(binary):
    r = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) \
        else "?"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--autossh", default=os.path.join(REPO, "autossh"),
                   help="our autossh (default: ./autossh, the release build)")
    p.add_argument("--autossh14", default="/usr/lib/autossh/autossh",
                   help="Debian's autossh 1.4g binary (not the /usr/bin wrapper)")
    p.add_argument("--full", action="store_true",
                   help="the seed's 30/3 blackhole, longer byte windows and bounds")
    p.add_argument("--only", default="",
                   help="comma-separated scenarios: " + ",".join(SCENARIO_KEYS))
    p.add_argument("--repeat", type=int, default=None,
                   help="runs of the short scenarios (default 3)")
    p.add_argument("--storm", type=int, default=20, help="tunnels in the storm (20)")
    p.add_argument("--parallel", type=int, default=16,
                   help="workers at once in the long stage (16)")
    p.add_argument("--loglevel", type=int, default=6,
                   help="AUTOSSH_LOGLEVEL for both programs (6, the default)")
    p.add_argument("--output", default=os.path.join(HERE, "results", "latest.md"),
                   help="where the table goes besides stdout")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args()

    if os.geteuid() != 0:
        sys.exit("make bench needs root (network namespaces, nftables, sshd)")
    args.autossh = os.path.abspath(args.autossh)
    for b in (args.autossh, args.autossh14):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {b} is not an executable file")
    only = [x for x in args.only.split(",") if x]
    for x in only:
        if x not in SCENARIO_KEYS:
            sys.exit(f"bench: unknown scenario {x!r}; known: {', '.join(SCENARIO_KEYS)}")
    if args.repeat is not None and args.repeat < 1:
        sys.exit("bench: --repeat must be at least 1")

    # SIGTERM and SIGHUP end the run like Ctrl-C, so that cleanup runs;
    # SIGINT too when started in the background, where it arrives ignored.
    def interrupt(signo, frame):
        raise KeyboardInterrupt(f"signal {signo}")
    for sig in STOP_SIGNALS:
        signal.signal(sig, interrupt)

    opts = build_options(args)
    if only:
        chosen = [s for s in SCENARIOS if s.key in only]
    else:
        chosen = [s for s in SCENARIOS if args.full or not s.full_only]
    workdir = tempfile.mkdtemp(prefix="autossh-bench-")
    debian = ""
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version") as f:
            debian = f", Debian {f.read().strip()}"
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"Linux {platform.release()}, {os.cpu_count()} cores{debian}",
        "ours_version": version_of(args.autossh),
        "old_version": version_of(args.autossh14),
        "ssh_version": subprocess.run(["ssh", "-V"], capture_output=True,
                                      text=True).stderr.strip(),
        "syn_linear": None,
    }
    try:
        with open("/proc/sys/net/ipv4/tcp_syn_linear_timeouts") as f:
            meta["syn_linear"] = int(f.read())
    except (OSError, ValueError):
        pass
    say(f"bench: ours {args.autossh} ({meta['ours_version']}), 1.4g {args.autossh14} "
        f"({meta['old_version']}); work directory {workdir}")
    say("bench: scenarios " + ", ".join(s.key for s in chosen)
        + (" (full)" if args.full else " (quick)"))

    index = 0
    stages = {}
    for s in chosen:
        for prog in PROGRAMS:
            binary = args.autossh if prog == OURS else args.autossh14
            job = Job(s.key, prog, s.func, binary, opts, index, workdir)
            job.repeat = args.repeat if args.repeat is not None else s.repeat
            job.opts = dict(opts, repeat=job.repeat)
            index += 1
            stages.setdefault(s.stage, []).append(job)

    started = now()
    results = []
    ok = False
    try:
        for stage in sorted(stages):
            jobs = stages[stage]
            if stage == 1:
                # Short, timing-sensitive scenarios: one scenario at a time,
                # ours and 1.4g side by side.
                for i in range(0, len(jobs), 2):
                    say(f"[{now() - started:6.0f} s] {jobs[i].scenario}: "
                        f"ours and 1.4g, {jobs[i].repeat} run(s)")
                    results += run_stage(jobs[i:i + 2], 2, started)
            elif stage == 2:
                say(f"[{now() - started:6.0f} s] long scenarios at once: "
                    + ", ".join(sorted({j.scenario for j in jobs})))
                results += run_stage(jobs, max(2, args.parallel), started)
            else:
                # The storm loads the machine: one program at a time.
                for job in jobs:
                    say(f"[{now() - started:6.0f} s] {job.name}")
                    results += run_stage([job], 1, started)
        ok = not any(r.get("error") for r in results)
    except KeyboardInterrupt:
        say("\nbench: interrupted; the labs have been removed")
        labmod.sweep_stale_labs()
        say(f"bench: logs kept in {workdir}")
        sys.exit(130)
    meta["duration"] = now() - started
    report = render(results, opts, meta)
    say()
    say(report)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(report)
    say(f"bench: table written to {os.path.relpath(args.output)}; "
        f"{meta['duration']:.0f} s in all")
    for r in results:
        if r.get("error"):
            say(f"bench: {r['scenario']}/{r['program']} failed: {r['error']}")
            say(r.get("trace", ""))
    if args.keep or not ok:
        say(f"bench: logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
