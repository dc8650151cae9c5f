"""The bench's scenarios: what each does to the tunnel and which figures it returns.

Each scenario function runs in a worker (runner.py) with a Job, builds its
lab, starts the supervisor, applies its fault and returns {figure:
[samples]}; its bounds come from its Scenario (plan.py) as job.limits.
"""

import random
import re
import socket
import threading
import time

import lab as labmod

from .measure import (count_on, count_read, read_ctxt, read_status_kb,
                      syn_count_on, syn_count_read, wait_answer, wait_connack,
                      now)

SEED_ALIVE = ["ServerAliveInterval 30", "ServerAliveCountMax 3"]
QUICK_ALIVE = ["ServerAliveInterval 2", "ServerAliveCountMax 3"]
MON_PORT = 20000          # -M 20000 (uses 20000 and 20001)
MON_POLL = "10"           # AUTOSSH_POLL for the monitor scenarios
REVERSE_PORT = 2222       # RemoteForward 2222 ... on the server
REVERSE_TARGET = 7777     # client-side listener the reverse tunnel reaches
REVERSE_BANNER = b"bench-reverse-target\r\n"
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
        rss = read_status_kb(pid, "VmRSS")
        anon = read_status_kb(pid, "RssAnon")
        fds = len(labmod.open_fds(pid))
        if ssh0 != sup.ssh_pids():
            job.note(f"{job.program}: ssh was replaced during the idle window")
        sup.stop()
    job.config = config_text(alive)
    job.procedure = (f"tunnel up, 5 s to settle, then {window} s idle: bytes counted "
                     f"by nftables counters in the server namespace (IP packets from "
                     f"and to the client), scaled to a day; the supervisor's VmRSS "
                     f"(with the C library's pages, shared with every process "
                     f"that uses it), its RssAnon (memory of its own) and "
                     f"open descriptors at the end, its context switches (voluntary + "
                     f"involuntary) over the window, scaled to an hour; "
                     f"AUTOSSH_LOGLEVEL={job.opts['loglevel']} for both")
    return {"bytes_day": [by * 86400.0 / elapsed], "packets": [pk],
            "window": [elapsed], "rss_kb": [rss], "anon_kb": [anon],
            "fds": [fds],
            "wakeups_h": [(sw1 - sw0) * 3600.0 / elapsed if sw0 is not None
                          and sw1 is not None else None],
            "wakeups_h_detail": [(f"{sw1 - sw0} in {elapsed:.0f} s"
                                  if sw0 is not None and sw1 is not None else "")
                                 + (f"; it logged {len(logged)} line(s) meanwhile, "
                                    "see the notes" if logged else "")],
            "bytes_day_detail": [f"{by} B in {elapsed:.0f} s"]}


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
