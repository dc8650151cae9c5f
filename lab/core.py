"""The Lab: two namespaces, sshd, mosquitto, the client home, commands, teardown.

Composes the other modules into the seed setup (DESIGN.md §The seed): it
builds the network, the client's ~/.ssh, sshd (sshd.py) and the broker
(broker.py); runs commands in either namespace; starts supervisors
(autossh.py); takes the fault switches (faults.py) and probes (probes.py)
as mixins; resets between tests and tears everything down.
"""

import atexit
import ipaddress
import os
import re
import shlex
import signal
import subprocess
import threading
import time

from .autossh import AutosshProcess, forks_to_background
from .broker import Broker
from .constants import (CLIENT_HOME, IFNAME, KEY_NAME, MQTT_PORT, NET6_PREFIX,
                        NET_PREFIX, NS_PREFIX, SSHD_PORT, SYSTEM_PATH, TREE,
                        TUNNEL_PORT)
from .faults import Faults
from .netns import netns_inode, netns_pids, sweep_stale_labs
from .probes import Probes
from .procs import (become_subreaper, children, cmdline, file_size,
                    install_signal_handlers, proc_stat, read_text, run,
                    signal_pid, wait_for, write_file, zombie_children)
from .sshd import Sshd

_lab_counter = 0

# A TCP echo service: every byte back on the same connection; with a log
# path as argv[2], everything received is appended there too.
ECHO_SERVER = r"""
import socket, sys, threading
log = open(sys.argv[2], "ab", buffering=0) if len(sys.argv) > 2 else None
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(16)
print("listening", flush=True)
def serve(c):
    with c:
        while True:
            data = c.recv(4096)
            if not data:
                return
            if log:
                log.write(data)
            c.sendall(data)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


class Lab(Faults, Probes):
    """Two namespaces, sshd, mosquitto, the client home and the fault switches.

    Lab(workdir) builds everything (and cleans up again if that fails);
    close() tears it down and returns a list of problems found (leftover ssh,
    zombies). Also a context manager. trace, if given, is called with a
    readable line for every command the lab runs (probes excepted).
    """

    def __init__(self, workdir, index=0, ipv6=True, trace=None):
        global _lab_counter
        if os.geteuid() != 0:
            raise PermissionError("the lab needs root to create network namespaces")
        if not 0 <= index <= 255:
            raise ValueError("index must be 0..255")
        _lab_counter += 1
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.index = index
        self.ipv6 = ipv6
        self.trace = trace
        tag = f"{NS_PREFIX}{os.getpid()}-{_lab_counter}"
        self.client_ns, self.server_ns = tag + "c", tag + "s"
        self.client_addr = f"{NET_PREFIX}.{index}.1"
        self.server_addr = f"{NET_PREFIX}.{index}.2"
        # Compressed form (fd77::2), as sshd and ss print it.
        self.client_addr6 = str(ipaddress.ip_address(f"{NET6_PREFIX}:0:0:{index:x}::1"))
        self.server_addr6 = str(ipaddress.ip_address(f"{NET6_PREFIX}:0:0:{index:x}::2"))
        self.home = os.path.join(self.workdir, "home")
        self.ssh_dir = os.path.join(self.home, ".ssh")
        self.ssh_config_path = os.path.join(self.ssh_dir, "config")
        self.known_hosts = os.path.join(self.ssh_dir, "known_hosts_lab")
        # The client's /etc/hosts while set_hosts() has names in it.
        self.hosts_path = os.path.join(self.workdir, "hosts")
        self.host_names = {}
        self.commands_log = os.path.join(self.workdir, "commands.log")
        # The lab's home hides the real /root from client commands; a tree
        # under it is put back at its own path (see home_argv()).
        self.tree_in_home = None
        if TREE.startswith(CLIENT_HOME + "/"):
            self.tree_in_home = os.path.join(
                self.home, os.path.relpath(TREE, CLIENT_HOME))
        self.procs = []        # Popens the lab started and has not yet reaped
        self.programs = []     # AutosshProcess handles
        self.holds = []
        self.extra_addrs = []  # add_server_address()
        self.reaped = {}       # orphan pid -> status (Popen returncode convention)
        self.blackholed = False
        self._closed = False
        self._report = []
        self._out_counter = 0
        self.sshd = self.broker = None
        become_subreaper()
        install_signal_handlers()
        atexit.register(self.close)
        try:
            sweep_stale_labs()
            self._make_network()
            self.sshd = Sshd(self)
            self.broker = Broker(self)
            self._make_client_home()
            self.sshd.start()
            self.broker.start()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<Lab {self.client_ns}/{self.server_ns} in {self.workdir}>"

    # --- construction ---

    def _make_network(self):
        c, s = self.client_ns, self.server_ns
        self.host_run(["ip", "netns", "add", c])
        self.host_run(["ip", "netns", "add", s])
        # Created directly inside the namespaces, so both ends can share a name.
        self.host_run(["ip", "link", "add", IFNAME, "netns", c, "type", "veth",
                       "peer", "name", IFNAME, "netns", s])
        for ns, addr, addr6 in ((c, self.client_addr, self.client_addr6),
                                (s, self.server_addr, self.server_addr6)):
            self.host_run(["ip", "-n", ns, "link", "set", "lo", "up"])
            self.host_run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", IFNAME])
            if self.ipv6:
                # Linux drops IPv6 addresses when a link goes down unless told to
                # keep them; link_down()/link_up() must leave addresses as they were.
                self.host_run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                               f"net.ipv6.conf.{IFNAME}.keep_addr_on_down=1"])
                self.host_run(["ip", "-n", ns, "addr", "add", f"{addr6}/64", "dev",
                               IFNAME, "nodad"])
            self.host_run(["ip", "-n", ns, "link", "set", IFNAME, "up"])
        self.wait_link_up()

    def _make_client_home(self):
        os.makedirs(self.ssh_dir, mode=0o700, exist_ok=True)
        if self.tree_in_home:
            os.makedirs(self.tree_in_home, exist_ok=True)
        key = os.path.join(self.ssh_dir, KEY_NAME)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-client",
             "-f", key])
        with open(key + ".pub") as f:
            write_file(self.sshd.authorized_keys, f.read())
        self._write_known_hosts()
        self.write_ssh_config()

    def _write_known_hosts(self):
        hosts = [f"[{self.server_addr}]:{SSHD_PORT}"]
        if self.ipv6:
            hosts.append(f"[{self.server_addr6}]:{SSHD_PORT}")
        hosts += [f"[{name}]:{SSHD_PORT}" for name in self.host_names]
        write_file(self.known_hosts, f"{','.join(hosts)} {self.sshd.host_public_key}\n")

    def set_hosts(self, names=None):
        """Give client commands an /etc/hosts of the lab's: names maps a host
        name to its addresses, in the order the file lists them (e.g.
        {"multi": ["10.77.0.3", "10.77.0.2"]}); the resolver returns them all.
        The names are added to the lab's known_hosts as names of the lab's
        sshd. The file is bind-mounted in each client command's private mount
        namespace (home_argv()); the host's /etc/hosts is never touched.
        set_hosts() or reset() goes back to the system's file."""
        self.host_names = dict(names or {})
        if self.host_names:
            lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
            for name, addrs in self.host_names.items():
                lines += [f"{a} {name}" for a in addrs]
            write_file(self.hosts_path, "\n".join(lines) + "\n")
        elif os.path.exists(self.hosts_path):
            os.unlink(self.hosts_path)
        self._write_known_hosts()

    def write_ssh_config(self, extra=(), hosts=None, server=None, servers=None):
        """Write the client's ~/.ssh/config.

        Host Broker has the seed's shape plus the lines in extra (e.g.
        ["ServerAliveInterval 2", "ServerAliveCountMax 3"]). hosts maps more
        aliases to their extra lines; each gets the same HostName, Port, User and
        IdentityFile but no LocalForward (e.g. {"Reverse": ["RemoteForward 2222
        localhost:22"]}). server overrides HostName (e.g. lab.server_addr6).
        servers maps an alias of hosts to a HostName of its own (e.g.
        {"Backup": "backup-srv"}, a fallback destination on another address).
        A final Host * pins the lab's known_hosts with strict checking.
        """
        server = server or self.server_addr
        common = [f"  HostName        {server}",
                  f"  IdentityFile    ~/.ssh/{KEY_NAME}",
                  "  User            root"]
        lines = ["# Written by lab/core.py", "Host Broker", *common,
                 f"  LocalForward    {TUNNEL_PORT} localhost:{MQTT_PORT}",
                 f"  Port            {SSHD_PORT}",
                 *(f"  {x}" for x in extra), ""]
        for alias, more in (hosts or {}).items():
            own = (servers or {}).get(alias, server)
            lines += [f"Host {alias}", f"  HostName        {own}", *common[1:],
                      f"  Port            {SSHD_PORT}",
                      *(f"  {x}" for x in more), ""]
        lines += ["Host *",
                  f"  UserKnownHostsFile {self.known_hosts}",
                  "  StrictHostKeyChecking yes", ""]
        write_file(self.ssh_config_path, "\n".join(lines))

    # --- running commands ---

    def host_run(self, argv, quiet=False, **kw):
        """Run a host command (see procs.run), logged to commands.log and
        shown to trace unless quiet."""
        self._log_command("$", argv, quiet)
        return run(argv, **kw)

    def _log_command(self, where, argv, quiet=False):
        line = f"{where} {shlex.join(argv)}"
        with open(self.commands_log, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        if self.trace and not quiet:
            self.trace(line)

    def client_argv(self, argv):
        """argv wrapped to run in the client namespace with the lab home on /root."""
        return ["ip", "netns", "exec", self.client_ns, *self.home_argv(argv)]

    def home_argv(self, argv):
        """argv wrapped to run with the lab home on /root (in the current network
        namespace; server_argv() or client_argv() choose one).

        unshare gives the command a private mount namespace, so the bind mount
        is seen by it and its descendants only, and vanishes with them.  When
        the source tree lives under /root, it is first bound onto its place in
        the lab's home and the home is then bound recursively, so that the
        tree's binaries and scripts are found at their usual paths.  While
        set_hosts() has names, the lab's hosts file is bound on /etc/hosts.
        """
        if self.tree_in_home is None:
            script = 'mount --bind "$1" /root && shift && exec "$@"'
            args = [self.home]
        else:
            script = ('mount --bind "$2" "$3" && mount --rbind "$1" /root && '
                      'shift 3 && exec "$@"')
            args = [self.home, TREE, self.tree_in_home]
        if self.host_names:
            script = f'mount --bind "$0" /etc/hosts && {script}'
            return ["unshare", "--mount", "--propagation", "private",
                    "sh", "-c", script, self.hosts_path, *args, *argv]
        return ["unshare", "--mount", "--propagation", "private",
                "sh", "-c", script, "sh", *args, *argv]

    def server_argv(self, argv):
        return ["ip", "netns", "exec", self.server_ns, *argv]

    def env(self, extra=None):
        """The environment for lab commands: minimal and predictable, plus
        sanitizer settings if the caller has them, plus extra."""
        env = {"PATH": SYSTEM_PATH, "HOME": "/root", "USER": "root",
               "LOGNAME": "root", "LC_ALL": "C"}
        for k, v in os.environ.items():
            if k.endswith("SAN_OPTIONS"):
                env[k] = v
        env.update(extra or {})
        return env

    def _popen(self, where, full_argv, argv, env, quiet, kw):
        self._log_command(where, argv, quiet)
        kw.setdefault("stdin", subprocess.DEVNULL)
        out = None
        if "stdout" not in kw and "stderr" not in kw:
            # Default: output to a file of its own, never to pytest's capture.
            self._out_counter += 1
            os.makedirs(os.path.join(self.workdir, "out"), exist_ok=True)
            name = re.sub(r"[^\w.-]", "_", os.path.basename(argv[0]))
            out = os.path.join(self.workdir, "out", f"{self._out_counter}-{name}.out")
            kw["stdout"] = open(out, "wb")
            kw["stderr"] = subprocess.STDOUT
        try:
            # A session of its own: reap_orphans() tells lab processes from the
            # caller's own children by session id.
            p = subprocess.Popen(full_argv, env=self.env(env),
                                 start_new_session=True, **kw)
        finally:
            if out is not None:
                kw["stdout"].close()
        p.out_path = out
        # Forget processes already waited for, so that long runs (a benchmark
        # probing for hours) do not accumulate them.
        self.procs = [q for q in self.procs if q.returncode is None]
        self.procs.append(p)
        return p

    def client_popen(self, argv, env=None, quiet=False, **kw):
        """Start argv in the client namespace (lab home on /root); a Popen.

        Without stdout/stderr arguments, output goes to the file p.out_path.
        """
        return self._popen("[client]", self.client_argv(argv), argv, env, quiet, kw)

    def server_popen(self, argv, env=None, quiet=False, **kw):
        """Start argv in the server namespace; a Popen (see client_popen)."""
        return self._popen("[server]", self.server_argv(argv), argv, env, quiet, kw)

    def _complete(self, p, timeout):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            return subprocess.CompletedProcess(p.args, None, out, err)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def client_run(self, argv, timeout=30, env=None, quiet=False):
        """Run argv in the client namespace to completion.

        Returns a CompletedProcess with text stdout/stderr; returncode is None
        if it was killed at the timeout.
        """
        p = self.client_popen(argv, env=env, quiet=quiet, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return self._complete(p, timeout)

    def server_run(self, argv, timeout=30, env=None, quiet=False):
        """Run argv in the server namespace to completion (see client_run)."""
        p = self.server_popen(argv, env=env, quiet=quiet, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return self._complete(p, timeout)

    def start_autossh(self, binary, args, env=None, name=None, daemon=None):
        """Start the supervisor under test in the client namespace.

        AUTOSSH_LOGFILE defaults to <workdir>/<name>.log and AUTOSSH_LOGLEVEL to
        7; env adds to or overrides that. daemon defaults to whether args ask
        for -f; for a daemon, this waits for the foreground parent to exit.
        Returns an AutosshProcess.
        """
        name = name or f"autossh-{len(self.programs) + 1}"
        binary = os.path.abspath(binary)
        daemon = forks_to_background(args) if daemon is None else daemon
        full_env = {"AUTOSSH_LOGFILE": os.path.join(self.workdir, f"{name}.log"),
                    "AUTOSSH_LOGLEVEL": "7", **(env or {})}
        out = open(os.path.join(self.workdir, f"{name}.out"), "wb")
        try:
            p = self.client_popen([binary, *args], env=full_env, stdout=out,
                                  stderr=subprocess.STDOUT)
        finally:
            out.close()
        prog = AutosshProcess(self, p, os.path.realpath(binary), name, daemon)
        self.programs.append(prog)
        if daemon:
            prog.find_daemon()
        return prog

    def start_echo(self, side, port, log_path=None, timeout=5):
        """Start an echo service on 127.0.0.1:port in the "client" or
        "server" namespace and wait until it listens; returns the Popen."""
        argv = ["python3", "-c", ECHO_SERVER, str(port)]
        if log_path:
            argv.append(log_path)
        popen = self.client_popen if side == "client" else self.server_popen
        p = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if p.stdout.readline().strip() != b"listening":
            raise RuntimeError(f"echo service on {side}:{port} did not start")
        return p

    # --- processes ---

    def client_pids(self):
        return netns_pids(self.client_ns)

    def server_pids(self):
        return netns_pids(self.server_ns)

    def client_procs(self, comm):
        """Live pids in the client namespace whose command name is comm."""
        return [p for p in self.client_pids() if (proc_stat(p) or {}).get("comm") == comm]

    def reap_orphans(self):
        """Reap exited orphans that were reparented to this process.

        Only zombies in a session other than ours are reaped: every lab process
        runs in its own session, so the caller's own children (same session)
        are left to their Popen objects. Statuses land in self.reaped.
        """
        tracked = {p.pid for p in self.procs}
        me, my_sid = os.getpid(), os.getsid(0)
        for p in self.procs:
            p.poll()
        for pid in children(me):
            st = proc_stat(pid)
            if (st is None or st["state"] != "Z" or pid in tracked
                    or st["sid"] == my_sid):
                continue
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if got == pid:
                self.reaped[pid] = (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                                    else os.WEXITSTATUS(status))

    def terminate(self, popen, timeout=5):
        """SIGTERM a lab Popen, SIGKILL after timeout, and reap it."""
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()

    def kill_client_processes(self, timeout=5):
        """SIGKILL everything in the client namespace and wait until it is empty."""
        self._kill_namespace(self.client_ns, timeout)

    def _kill_namespace(self, ns, timeout):
        def empty():
            pids = netns_pids(ns)
            for p in pids:
                signal_pid(p, signal.SIGKILL)
            for p in self.procs:
                p.poll()
            self.reap_orphans()
            return not pids
        return wait_for(empty, timeout)

    def leftovers(self):
        """Problems a test left behind: ssh alive in the client namespace and
        unreaped zombies below lab processes. A list of readable strings."""
        found = [f"ssh still running in client namespace: pid {p} ({cmdline(p)})"
                 for p in self.client_procs("ssh")]
        for p in self.client_pids() + self.server_pids():
            for z in zombie_children(p):
                comm = (proc_stat(z) or {}).get("comm", "?")
                found.append(f"zombie pid {z} ({comm}), child of pid {p} ({cmdline(p)})")
        return found

    def reset(self):
        """Back to the default state: no faults, no client processes, sshd and
        broker running with default configuration, default ssh_config."""
        for h in self.holds:
            h.release()
        self.holds = []
        self.lift()
        self.remove_server_addresses()
        if self.host_names:
            self.set_hosts()
        if not self.link_is_up():
            self.link_up()
        self.kill_client_processes()
        # Stopped sessions must be killed too, and they may hold -R ports.
        self.sshd.kill_sessions()
        if not self.sshd.is_default_config:
            self.sshd.write_config()
            self.sshd.stop()
        self.sshd.start()
        self.broker.start()
        self.write_ssh_config()
        self.reap_orphans()

    def log_paths(self):
        """{name: path} of the lab's logs, program logs included."""
        paths = {"sshd log": self.sshd.log_path, "mosquitto log": self.broker.log_path,
                 "lab commands": self.commands_log}
        for prog in self.programs:
            paths[f"{prog.name} log"] = prog.log_path
            paths[f"{prog.name} output"] = prog.out_path
        return paths

    def log_marks(self):
        """Current sizes of the logs, to pass to logs_since()."""
        return {name: file_size(path) for name, path in self.log_paths().items()}

    def logs_since(self, marks=None):
        """{name: text} of each log written since marks (default: everything)."""
        marks = marks or {}
        return {name: read_text(path, marks.get(name, 0))
                for name, path in self.log_paths().items()}

    # --- teardown ---

    def close(self):
        """Tear everything down; return leftovers() as found before the kill.

        Safe to call twice and after a failure halfway through construction.
        """
        if self._closed:
            return self._report
        self._closed = True
        # A second Ctrl-C must not abort the cleanup itself.
        main = threading.current_thread() is threading.main_thread()
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            report = []
            if netns_inode(self.client_ns) is not None:
                report = self.leftovers()
            for h in self.holds:
                h.release()
            if netns_inode(self.server_ns) is not None:
                self.remove_blackhole(check=False, quiet=True)
                self.remove_server_addresses(check=False)
            for ns in (self.client_ns, self.server_ns):
                if netns_inode(ns) is not None and not self._kill_namespace(ns, 10):
                    report.append(f"processes survived SIGKILL in {ns}: {netns_pids(ns)}")
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
            self.reap_orphans()
            for ns in (self.client_ns, self.server_ns):
                if netns_inode(ns) is not None:
                    run(["ip", "netns", "del", ns], check=False)
            self._report = report
            return report
        finally:
            atexit.unregister(self.close)
            if main:
                signal.signal(signal.SIGINT, old_int)
