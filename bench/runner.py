"""Workers: one forked process per (scenario, program), each with a lab of its own.

A Job is one scenario run for one program; run_stage() forks the workers,
at most so many at once, collects their JSON results and, on Ctrl-C or a
failure, stops them and sweeps their namespaces.  Supervisor is the handle
a scenario holds on a started autossh.
"""

import fcntl
import json
import os
import shlex
import signal
import sys
import time
import traceback

import lab as labmod

from .measure import SshWatch, now

OURS, OLD = "ours", "1.4g"
PROGRAMS = (OURS, OLD)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def say(text=""):
    print(text, flush=True)


class Job:
    """One (scenario, program) run; executed in a forked worker."""

    def __init__(self, scenario, program, binary, opts, index, workdir):
        self.scenario = scenario.key
        self.program = program
        self.func = scenario.func
        # The scenario's bounds for this run's mode (quick or --full).
        self.limits = scenario.limits(opts["full"])
        self.binary = binary
        self.opts = opts
        self.index = index
        self.dir = os.path.join(workdir, f"{scenario.key}-{program}".replace(".", ""))
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
    """A started supervisor of a Job, with its ssh children watched."""

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


def run_job(job):
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
                    run_job(job)
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
