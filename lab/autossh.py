"""The supervisor under test: one autossh (ours or 1.4g) in the client namespace.

Owns the handle tests hold on a started supervisor (AutosshProcess): its
daemon behind -f, its ssh children, its exit status, log and output.
Starting one is Lab.start_autossh() (core.py).
"""

import os
import signal
import subprocess

from .procs import alive, children, open_fds, proc_stat, read_text, signal_pid, wait_for


# ssh option letters that take a value (OpenSSH 9.x), plus autossh's -M.
_VALUE_OPTS = set("BbcDEeFIiJLlmOoPpQRSWwM")


def forks_to_background(args):
    """True if an autossh/ssh argument list asks for -f before the destination."""
    it = iter(args)
    for a in it:
        if a == "--" or not a.startswith("-") or a == "-":
            return False
        for i, c in enumerate(a[1:]):
            if c == "f":
                return True
            if c in _VALUE_OPTS:
                if i == len(a) - 2:
                    next(it, None)  # the value is the next argument
                break
    return False


class AutosshProcess:
    """One supervisor (autossh) started in the client namespace.

    With -f the started process is only the foreground parent; the daemon it
    forks becomes this process's child (subreaper) and is tracked instead.
    """

    def __init__(self, lab, popen, exe, name, daemon):
        self.lab = lab
        self.popen = popen
        self.exe = exe
        self.name = name
        self.daemon = daemon
        self.log_path = os.path.join(lab.workdir, f"{name}.log")
        self.out_path = os.path.join(lab.workdir, f"{name}.out")
        self.daemon_pid = None
        self.foreground_status = None

    def find_daemon(self, timeout=10):
        """For -f: wait for the foreground parent to exit, then find the daemon.

        Returns the daemon's pid, or None if the parent failed or no daemon is
        left (the parent's status is in foreground_status).
        """
        try:
            self.foreground_status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        claimed = {p.daemon_pid for p in self.lab.programs}
        for p in self.lab.client_pids():
            st = proc_stat(p)
            # The daemon's parent is the foreground process or, once that has
            # exited, this process (subreaper); ssh's own helpers have other parents.
            if (st and st["ppid"] in (self.popen.pid, os.getpid())
                    and p not in claimed and exe_of(p) == self.exe):
                self.daemon_pid = p
                break
        return self.daemon_pid

    @property
    def pid(self):
        return self.daemon_pid if self.daemon else self.popen.pid

    def alive(self):
        if not self.daemon:
            return self.popen.poll() is None
        return self.daemon_pid is not None and alive(self.daemon_pid)

    def ssh_pids(self, comm="ssh"):
        """Live children of the supervisor named comm (its ssh)."""
        if self.pid is None:
            return []
        return [p for p in children(self.pid)
                if (proc_stat(p) or {}).get("comm") == comm and alive(p)]

    def wait(self, timeout):
        """Wait for the supervisor to exit; its exit status (as Popen's
        returncode: negative for a signal), or None if still running or unknown."""
        if not self.daemon:
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        if self.daemon_pid is None:
            return None

        def reaped():
            self.lab.reap_orphans()
            return self.daemon_pid in self.lab.reaped

        return self.lab.reaped.get(self.daemon_pid) if wait_for(reaped, timeout) else None

    def signal(self, sig):
        if self.pid is not None and self.alive():
            signal_pid(self.pid, sig)

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout; return the exit status."""
        if self.pid is None:
            return self.foreground_status
        self.signal(signal.SIGTERM)
        status = self.wait(timeout)
        if status is None and self.alive():
            self.signal(signal.SIGKILL)
            status = self.wait(5)
        return status

    def wait_new_ssh(self, old, timeout):
        """Wait for a live ssh child other than old; its pid, or None on
        timeout."""
        found = wait_for(lambda: [p for p in self.ssh_pids() if p != old],
                         timeout)
        return found[0] if found else None

    def fds(self):
        return open_fds(self.pid) if self.pid else {}

    def log_text(self):
        return read_text(self.log_path)

    def output(self):
        return read_text(self.out_path)


def exe_of(pid):
    """The executable of pid (/proc/<pid>/exe), or None."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
