"""The real sshd in the server namespace: config, keys, start/stop, sessions.

Owns sshd_config (the OpenSSH test-exec.sh recipe: a fresh host key,
DEBUG3, StrictModes no), the listener's life and the per-connection
session processes, which faults stop, continue or kill.
"""

import os
import signal
import subprocess

from .constants import SSHD, SSHD_PORT
from .procs import (alive, cont_pid, file_size, proc_stat, read_text, run,
                    signal_pid, stop_pid, wait_for, write_file)


class Sshd:
    """The real sshd in the server namespace (`sshd -D -e -f <cfg>`)."""

    def __init__(self, lab):
        self.lab = lab
        self.dir = os.path.join(lab.workdir, "sshd")
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "sshd_config")
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        self.pid_file = os.path.join(self.dir, "sshd.pid")
        self.log_path = os.path.join(self.dir, "sshd.log")
        self.proc = None
        self.extra = []
        self.max_startups = None
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-sshd",
             "-f", self.host_key])
        with open(self.host_key + ".pub") as f:
            self.host_public_key = " ".join(f.read().split()[:2])
        self.write_config()

    def write_config(self, extra=(), max_startups=None):
        """Write sshd_config; takes effect at the next start() or restart().

        extra lines come first because sshd keeps the first value it reads for
        a keyword, so they override the defaults below. max_startups is
        sshd's MaxStartups (default: sshd's own, 10:30:100).
        """
        self.extra = list(extra)
        self.max_startups = max_startups
        lab = self.lab
        lines = ["# Written by lab/sshd.py", *self.extra,
                 f"Port {SSHD_PORT}", f"ListenAddress {lab.server_addr}"]
        if lab.ipv6:
            lines.append(f"ListenAddress {lab.server_addr6}")
        lines += [
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "LogLevel DEBUG3",
            "AllowTcpForwarding yes",
            "GatewayPorts no",
        ]
        if max_startups is not None:
            lines.append(f"MaxStartups {max_startups}")
        write_file(self.config_path, "\n".join(lines) + "\n")

    @property
    def is_default_config(self):
        return not self.extra and self.max_startups is None

    @property
    def listener_pid(self):
        """Pid of the listening sshd, or None when it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        return self.proc.pid

    def running(self):
        return self.listener_pid is not None

    def start(self, timeout=10, interval=0.05):
        """Start the listener and wait until it prints "Server listening" for
        every ListenAddress (sshd prints it after listen(), so connects succeed).
        The log is read every interval seconds."""
        if self.running():
            return
        # sshd insists on its privilege separation directory.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        offset = file_size(self.log_path)
        log = open(self.log_path, "ab")
        try:
            self.proc = self.lab.server_popen(
                [SSHD, "-D", "-e", "-f", self.config_path],
                stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        addrs = [self.lab.server_addr] + ([self.lab.server_addr6] if self.lab.ipv6 else [])
        wanted = [f"Server listening on {a} port {SSHD_PORT}" for a in addrs]

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}:\n"
                                   + self.log_text(offset))
            text = self.log_text(offset)
            return all(w in text for w in wanted)

        if not wait_for(ready, timeout, interval=interval):
            raise RuntimeError("sshd not ready in time:\n" + self.log_text(offset))

    def stop(self):
        """Stop the listener (SIGTERM, then SIGKILL). Sessions survive, as with a
        real sshd; use kill_sessions() for them."""
        if self.proc is None:
            return
        self.lab.terminate(self.proc)
        self.proc = None

    def restart(self):
        """Kill the listener and start it again with the same configuration."""
        self.stop()
        self.start()

    def session_pids(self):
        """The per-connection sshd processes (monitor and session children).

        They are found by namespace rather than as children of the listener,
        because a restart orphans the sessions of the previous listener.
        """
        listener = self.listener_pid
        return [p for p in self.lab.server_pids()
                if p != listener and (proc_stat(p) or {}).get("comm") == "sshd"]

    def kill_sessions(self, timeout=5):
        """SIGKILL every per-connection sshd, not the listener; wait until those
        are gone (a supervisor may already be connecting again). Returns them."""
        pids = self.session_pids()
        for p in pids:
            signal_pid(p, signal.SIGKILL)
        wait_for(lambda: not any(alive(p) for p in pids), timeout)
        self.lab.reap_orphans()
        return pids

    def stop_session(self):
        """SIGSTOP the session processes: the session hangs, TCP still answers."""
        pids = self.session_pids()
        for p in pids:
            stop_pid(p)
        return pids

    def cont_session(self):
        """SIGCONT the session processes."""
        pids = self.session_pids()
        for p in pids:
            cont_pid(p)
        return pids

    def log_text(self, offset=0):
        return read_text(self.log_path, offset)
