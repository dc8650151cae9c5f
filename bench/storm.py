"""The storm scenarios: many tunnels against one sshd (scenarios.py's sibling).

Started at once, then an sshd restart; with logins, sshd's own handshake
rate measured afterwards, the least time n handshakes can take.
"""

import os
import signal
import statistics
import threading
import time

import lab as labmod

from .measure import (ArrivalLog, cpu_seconds, handshake_rate, machine_cpu,
                      now, wait_connack)
from .scenarios import SEED_ALIVE, SSHD_DOWN_S, config_text, write_config

STORM_BASE_PORT = 30000   # storm tunnel i forwards 30000+i
STORM_RESTART_AFTER_S = 35  # storm: sshd restarted this long after the start
# sshd's handshake rate is measured this many logins at a time: the slots'
# eight, below MaxStartups' 10.
HANDSHAKE_AT_ONCE = 8


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
