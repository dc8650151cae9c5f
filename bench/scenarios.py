"""The bench's scenarios: what each does to the tunnel and which figures it returns.

Each scenario function runs in a worker (runner.py) with a Job, builds its
lab, starts the supervisor, applies its fault and returns {figure:
[samples]}; its bounds come from its Scenario (plan.py) as job.limits.
"""

import os
import random
import re
import socket
import signal
import statistics
import threading
import time

import lab as labmod

from .measure import (ArrivalLog, count_on, count_read, read_ctxt, read_rss_kb,
                      syn_count_on, syn_count_read, wait_answer, wait_connack,
                      now)
from .measure import cpu_seconds, handshake_rate, machine_cpu

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
        maker = labmod.SocketMaker(lab.client_ns)
        for rep in range(job.repeat):
            if rep:
                lab.reset()
            write_config(lab, alive)
            sup = job.start(lab, args, env=env)
            yield lab, maker, sup
            sup.stop()


# --- the scenarios (each runs in a worker; returns {figure: [samples]}) -------

def sc_start(job):
    figs = {"up": []}
    bound = job.limits.start
    for lab, maker, sup in repeat_runs(job, SEED_ALIVE,
                                       ["-M", "0", "-f", "-N", "Broker"]):
        figs["up"].append(wait_answer(lab, maker, sup.t0, bound))
    job.config = config_text(SEED_ALIVE)
    job.procedure = (f"start the supervisor; time until the tunnel answers "
                     f"(bound {bound} s)")
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
    bound = job.limits.notice
    back_bound = job.limits.back
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
    bound = job.limits.notice
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
    bound = job.limits.back
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
    syn_count_on(lab, job.dir)
    lab.sshd.stop()
    t_kill = now()
    lab.sshd.kill_sessions()
    if count_s is not None:
        time.sleep(max(0.0, t_kill + count_s - now()))
        syn, syn_bytes = syn_count_read(lab)
        count_text = f"in the first {count_s:g} s"
    time.sleep(max(0.0, t_kill + down_s - now()))
    if count_s is None:
        syn, syn_bytes = syn_count_read(lab)
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
    bound = job.limits.back
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
    bound = job.limits.back
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
    bound = job.limits.back
    hosts = {"Reverse": [f"RemoteForward {REVERSE_PORT} localhost:{REVERSE_TARGET}",
                         "ExitOnForwardFailure yes", *SEED_ALIVE]}
    lab = job.new_lab()
    stop = threading.Event()
    with lab:
        maker = labmod.SocketMaker(lab.client_ns)
        server_maker = labmod.SocketMaker(lab.server_ns)
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


def sc_idle(job, alive):
    window = job.limits.window
    lab = job.new_lab()
    with lab:
        maker = labmod.SocketMaker(lab.client_ns)
        write_config(lab, alive)
        sup = job.start(lab, ["-M", "0", "-f", "-N", "Broker"])
        up_or_raise(job, lab, maker, sup)
        time.sleep(5)   # the probe's channels close, ssh settles
        ssh0 = sup.ssh_pids()
        pid = sup.prog.pid
        count_on(lab, job.dir)
        log0 = labmod.file_size(sup.prog.log_path)
        sw0 = read_ctxt(pid)
        t0 = now()
        time.sleep(window)
        pk, by = count_read(lab)
        sw1 = read_ctxt(pid)
        # Anything the supervisor logged while idle explains its wake-ups
        # (a SIGUSR2 from someone's `autossh --status`, for instance).
        logged = labmod.read_text(sup.prog.log_path, log0).splitlines()
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


def _storm_events(arrivals, t_ref, t_end):
    """Connections that reached sshd between t_ref and t_end (plus 0.1 s for
    the log's lag), in seconds from t_ref: (accepted, dropped by MaxStartups)."""
    ev = [(t - t_ref, k) for t, k in arrivals.events if t <= t_end + 0.1]
    return ([t for t, k in ev if k == "accept"],
            [t for t, k in ev if k == "drop"])


def sc_storm(job, n, logins=0):
    """n tunnels against one sshd: started at once, then an sshd restart.
    logins > 0: afterwards, sshd's handshake rate from that many plain
    `ssh -f -N` logins, HANDSHAKE_AT_ONCE at a time."""
    b1, b2 = job.limits.start, job.limits.back
    hosts = {"Storm": list(SEED_ALIVE)}
    figs = {"tunnels": [n]}
    lab = job.new_lab()
    with lab:
        maker = labmod.SocketMaker(lab.client_ns)
        write_config(lab, SEED_ALIVE, hosts=hosts)
        arrivals = ArrivalLog(lab.sshd.log_path)
        t0 = now()
        sups = []
        for i in range(n):
            args = ["-M", "0", "-N", "-L", f"{STORM_BASE_PORT + i}:localhost:"
                    f"{labmod.MQTT_PORT}", "Storm"]
            sups.append(job.start(lab, args, name=f"storm-{i}"))
            # The storm reads neither ssh's starts nor exits from /proc: a
            # watch polling every 20 ms for each of 100 supervisors took
            # about 0.6 of this machine's two cores from the sshd and ssh
            # being measured.
            sups[-1].watch.stop()
        t_started = now() - t0
        first = _storm_wait(sups, maker, t0, b1)
        up = [v for v in first if v is not None]
        live = [s for s in sups if s.prog.alive()]
        t_end = t0 + (max(up) if up and len(up) == len(live) else b1)
        time.sleep(0.2)
        arrivals.stop()
        acc, drops = _storm_events(arrivals, t0, t_end)
        figs["start_all"] = [max(up) if up and len(up) == len(live) else None]
        figs["start_all_detail"] = [f"{len(up)} of {n} answered"
                                    if len(up) < n else ""]
        figs["start_gave_up"] = [n - len(live)]
        figs["start_dropped"] = [len(drops)]
        figs["start_dropped_detail"] = [f"of {len(acc) + len(drops)} arrivals"]
        job.note(f"{job.program}: the {n} supervisors took {t_started:.1f} s to "
                 "start (the bench launches them one after another)")
        gave_up_start = [sups.index(s) for s in sups if not s.prog.alive()]
        if gave_up_start:
            job.note(f"{job.program}: gave up at the start: storm-"
                     + ", storm-".join(map(str, gave_up_start)))

        # sshd goes away long after the start, as a real restart would: past
        # the supervisors' gate time, so that a failure is not a first start's.
        time.sleep(max(2.0, t0 + STORM_RESTART_AFTER_S - now()))
        arrivals = ArrivalLog(lab.sshd.log_path)
        cpu0 = _storm_cpu(live)
        lab.sshd.stop()
        lab.sshd.kill_sessions()
        time.sleep(SSHD_DOWN_S)
        lab.sshd.start()
        t_back = now()
        second = _storm_wait(live, maker, t_back, b2, ports=[
            STORM_BASE_PORT + sups.index(s) for s in live])
        back = [v for v in second if v is not None]
        t_end = t_back + (max(back) if len(back) == len(live) and back else b2)
        _note_storm_cpu(job, cpu0, _storm_cpu(live))
        time.sleep(0.2)
        arrivals.stop()
        acc, drops = _storm_events(arrivals, t_back, t_end)
        allev = sorted(acc + drops)
        figs["all_back"] = [max(back) if back and len(back) == len(live) else None]
        figs["all_back_detail"] = [f"{len(back)} of {len(live)} answered"
                                   if len(back) < n else ""]
        figs["first_arrival"] = [allev[0] if allev else None]
        figs["spread"] = [allev[-1] - allev[0] if len(allev) > 1 else None]
        figs["spread_detail"] = [f"{len(allev)} arrivals"]
        figs["arrivals"] = [len(allev)]
        figs["arrivals_detail"] = [f"{len(drops)} dropped by MaxStartups"]
        figs["back_dropped"] = [len(drops)]
        figs["back_dropped_detail"] = [f"of {len(allev)} arrivals"]
        figs["gave_up"] = [sum(1 for s in sups if not s.prog.alive())]
        if back:
            figs["median_back"] = [statistics.median(back)]
        per_s = {}
        for t in allev:
            per_s[int(t)] = per_s.get(int(t), 0) + 1
        job.note(f"{job.program}: connections reaching sshd per second after it was "
                 f"back: " + ", ".join(f"{k}s:{v}" for k, v in sorted(per_s.items())))
        gave_up = [i for i, s in enumerate(sups)
                   if not s.prog.alive() and i not in gave_up_start]
        if gave_up:
            job.note(f"{job.program}: gave up after the restart: storm-"
                     + ", storm-".join(map(str, gave_up)))
        for s in sups:
            s.watch.stop()
            if s.prog.alive():
                s.prog.signal(signal.SIGTERM)
        for s in sups:
            if s.prog.alive():
                s.prog.stop(5)
        job.grab_liveness_line(sups[0].prog)
        if logins:
            _storm_rate(job, lab, n, logins, figs)
    job.config = config_text(SEED_ALIVE, hosts)
    job.procedure = (
        f"{n} supervisors started at once in the foreground (as under a service "
        f"manager: no -f, so the gate time applies), each with its own -L; time "
        f"until all answer MQTT (bound {b1} s), connections sshd dropped by "
        f"MaxStartups meanwhile. {STORM_RESTART_AFTER_S} s after the "
        f"start (past the 30 s gate time), sshd's listener stopped, every "
        f"session SIGKILLed, sshd started again {SSHD_DOWN_S} s later; time from "
        f"sshd listening until all answer (bound {b2} s); arrivals of connections at "
        f"sshd (accepted or dropped by MaxStartups, read from its log) until then; "
        f"gave up = supervisor exited"
        + ("" if not logins else
           f". Then, the supervisors stopped, sshd's handshake rate: {logins} "
           f"plain `ssh -o BatchMode=yes -f -N Storm` from the client namespace "
           f"(each login ends when ssh goes to the background, authenticated), "
           f"{HANDSHAKE_AT_ONCE} at a time (below MaxStartups' 10), each started "
           f"as one ends; logins ÷ elapsed time. {n} ÷ that rate is the least "
           f"time {n} handshakes take on this machine"))
    return figs


def _storm_cpu(sups):
    """(now, the machine's busy and total CPU seconds, the supervisors' and
    this worker's own CPU seconds)."""
    busy, total = machine_cpu()
    own = sum(cpu_seconds(s.prog.pid) or 0.0 for s in sups)
    return now(), busy, total, own, sum(os.times()[:2])


def _note_storm_cpu(job, c0, c1):
    """Where the machine's CPU went from the restart until all answered."""
    wall = c1[0] - c0[0]
    busy, total = c1[1] - c0[1], c1[2] - c0[2]
    job.note(f"{job.program}: from the restart until all answered ({wall:.1f} s): "
             f"the machine's cores {100 * busy / total:.0f} % busy (everyone's "
             f"work, other users' too), the supervisors used "
             f"{c1[3] - c0[3]:.1f} s of CPU (their ssh and the helpers not "
             f"counted), the bench's worker (probes, log tail) "
             f"{c1[4] - c0[4]:.1f} s")


# sshd's handshake rate is measured this many logins at a time: the slots'
# eight, below MaxStartups' 10.
HANDSHAKE_AT_ONCE = 8


def _storm_rate(job, lab, n, logins, figs):
    """sshd's handshake rate after the storm, and how near the restart's
    "all answer" came to n handshakes at that rate."""
    time.sleep(1.0)     # the tunnels' sessions wind down
    hs = handshake_rate(lab, "Storm", logins, HANDSHAKE_AT_ONCE)
    rate = hs["rate"]
    figs["hs_rate"] = [rate]
    figs["hs_rate_detail"] = [
        f"{hs['ok']} logins in {hs['elapsed']:.1f} s, {HANDSHAKE_AT_ONCE} at once"
        + (f", one takes {hs['median']:.2f} s" if hs["median"] else "")
        + (f", {hs['failed']} failed" if hs["failed"] else "")]
    floor = n / rate if rate else None
    figs["hs_floor"] = [floor]
    back = figs.get("all_back", [None])[0]
    figs["hs_near"] = [back / floor if floor and back is not None else None]
    figs["hs_near_detail"] = [f"{back:.1f} s ÷ {floor:.1f} s"
                              if floor and back is not None else ""]


# --- Happy Eyeballs: a host whose first address is dead ------------------------

EYEBALLS_TIMEOUT_S = 10   # ConnectTimeout for both: ssh's wait per address


def sc_eyeballs(job):
    """Start with the destination's first address blackholed, its second
    working (DESIGN.md §Liveness); time until the tunnel answers."""
    figs = {"up": []}
    bound = job.limits.start
    extra = [f"ConnectTimeout {EYEBALLS_TIMEOUT_S}"]
    lab = job.new_lab()
    with lab:
        maker = labmod.SocketMaker(lab.client_ns)
        dead = f"{labmod.NET_PREFIX}.{lab.index}.3"
        for rep in range(job.repeat):
            if rep:
                lab.reset()
            lab.add_server_address(dead)
            lab.blackhole_address(dead)
            lab.set_hosts({"multi": [dead, lab.server_addr]})
            lab.write_ssh_config(extra=extra, server="multi")
            sup = job.start(lab, ["-M", "0", "-f", "-N", "Broker"])
            figs["up"].append(wait_answer(lab, maker, sup.t0, bound))
            sup.stop()
    job.config = [f"Host Broker: seed, but HostName multi ({dead} blackholed, "
                  f"then {lab.server_addr}) + ConnectTimeout {EYEBALLS_TIMEOUT_S}"]
    job.procedure = (f"start the supervisor; time until the tunnel answers "
                     f"(bound {bound} s); ssh alone tries {dead} until "
                     f"ConnectTimeout, then the next")
    return figs


# --- Fallback destinations: the primary dies silently -----------------------

FAILOVER_TIMEOUT_S = 3    # ConnectTimeout for both: a dead primary's SYNs


def sc_failover(job):
    """The primary's address is blackholed with the tunnel up; time until
    MQTT answers again (DESIGN.md §Fallbacks).  Ours has --fallback=Backup,
    a Host on a second server address; 1.4g has no fallback and keeps
    restarting ssh to the dead primary, so it answers only when the
    primary is back (here: never within the bound)."""
    from .runner import OURS
    figs = {"failover": []}
    bound = job.limits.back
    extra = [*QUICK_ALIVE, f"ConnectTimeout {FAILOVER_TIMEOUT_S}"]
    lab = job.new_lab()
    with lab:
        maker = labmod.SocketMaker(lab.client_ns)
        backup = f"{labmod.NET_PREFIX}.{lab.index}.3"
        for rep in range(job.repeat):
            if rep:
                lab.reset()
            lab.add_server_address(backup)
            lab.sshd.write_config(
                extra=[f"ListenAddress {backup}:{labmod.SSHD_PORT}"])
            lab.sshd.restart()
            lab.set_hosts({"backup-srv": [backup]})
            lab.write_ssh_config(
                extra=extra, servers={"Backup": "backup-srv"},
                hosts={"Backup": [f"LocalForward {labmod.TUNNEL_PORT} "
                                  f"localhost:{labmod.MQTT_PORT}", *extra]})
            args = ["-M", "0", "-f", "-N", "Broker"]
            if job.program == OURS:
                args = ["-M", "0", "-f", "--fallback=Backup", "-N", "Broker"]
            sup = job.start(lab, args, env={"AUTOSSH_BACKOFF_MAX": "2"})
            up_or_raise(job, lab, maker, sup)
            time.sleep(SETTLE_S)
            t0 = now()
            lab.blackhole_address(lab.server_addr)
            figs["failover"].append(wait_answer(lab, maker, t0, bound))
            lab.blackhole_address()
            sup.stop()
    job.config = [f"Host Broker: seed + {'; '.join(extra)}",
                  f"Host Backup: HostName backup-srv ({backup}, same sshd), "
                  f"LocalForward {labmod.TUNNEL_PORT}, + {'; '.join(extra)}"]
    job.procedure = (f"tunnel up; the primary's address {lab.server_addr} "
                     f"blackholed (silent); time until MQTT answers again "
                     f"(bound {bound} s). Ours: --fallback=Backup, "
                     f"AUTOSSH_BACKOFF_MAX=2. 1.4g has no fallback: it "
                     f"restarts ssh to the dead primary until it returns")
    return figs
