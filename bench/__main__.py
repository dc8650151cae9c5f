"""`make bench`: our autossh beside Debian's autossh 1.4g, same scenarios, same run.

Every scenario runs in the integration lab (the lab package, lab/): a client
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
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import lab as labmod

from .report import render
from .runner import OLD, OURS, PROGRAMS, STOP_SIGNALS, Job, now, run_stage, say
from .plan import SCENARIO_KEYS, SCENARIOS

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def build_options(args):
    """The run's settings besides the bounds, which are on each Scenario."""
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
    }


def version_of(binary):
    r = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) \
        else "?"


def main():
    p = argparse.ArgumentParser(prog="python3 -m bench",
                                description=__doc__.splitlines()[0])
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
            job = Job(s, prog, binary, opts, index, workdir)
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
