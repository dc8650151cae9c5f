"""A real network lab for autossh: two network namespaces, a real sshd, a real MQTT broker.

The lab builds the seed setup (docs/DESIGN.md §The seed): a client namespace runs
`autossh -M0 -f -N Broker` with the seed's `~/.ssh/config`, a server namespace runs
sshd on port 22222 and mosquitto on its loopback, and a veth pair joins the two.
Faults are real: nftables drops (silent), link down/up, killed or stopped sshd
sessions, a held remote port, connections forgotten by the client's kernel.
`mqtt_roundtrip()` proves the tunnel by sending an MQTT message through it and back.

Used by the pytest fixtures (conftest.py), by `make demo` and by the benchmark.
Python standard library only; needs root, iproute2, nftables, OpenSSH and mosquitto.

Two facts about the machine shape this module:
- Client commands run with a directory of the lab bind-mounted over /root in a
  private mount namespace, because OpenSSH reads ~/.ssh/config from the passwd
  home directory (not $HOME); the real /root/.ssh is never touched.  A source
  tree that lives under /root (a clone in root's home) is mounted at the same
  path inside the lab's /root, so its binaries keep their absolute paths.
- The lab process makes itself a child subreaper, so that daemonized programs
  (`autossh -f`) and orphaned sshd sessions stay its descendants: it reaps
  them at once and keeps their exit status (this VM's pid 1 reaps orphans only
  every second or two, which would make zombie checks flaky).
"""

import atexit
import ctypes
import ipaddress
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
import uuid

# Lab number i uses NET_PREFIX.i.0/24 and NET6_PREFIX:0:0:i::/64; the client is
# host 1, the server host 2.  Each lab has its own namespaces, so two labs never
# clash; the index only keeps addresses distinct in logs and captures.
NET_PREFIX = "10.77"
NET6_PREFIX = "fd77"
SSHD_PORT = 22222
MQTT_PORT = 1883
TUNNEL_PORT = 22883  # the seed's LocalForward 22883 localhost:1883
IFNAME = "veth0"     # the veth end is called this in both namespaces
NS_PREFIX = "ash"    # namespaces are ash<pid>-<n>c and ash<pid>-<n>s
SSHD = "/usr/sbin/sshd"  # sshd refuses to run unless started by absolute path
KEY_NAME = "id_ed25519_lab"
NFT_TABLE = "ashlab_blackhole"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLIENT_HOME = "/root"  # where client commands see the lab's home directory
# The source tree this module is part of (tests/integration/lab.py).
TREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CLONE_NEWNET = 0x40000000
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)
_lab_counter = 0
_signals_installed = False


# --- process inspection (works on any pid; used by tests and teardown) -------

def proc_stat(pid):
    """Return {comm, state, ppid, pgid, sid} of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parentheses: it ends at the last ')'.
    end = data.rindex(")")
    fields = data[end + 2:].split()
    return {"comm": data[data.index("(") + 1:end], "state": fields[0],
            "ppid": int(fields[1]), "pgid": int(fields[2]),
            "sid": int(fields[3])}


def all_pids():
    """Every process id on the machine."""
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st["state"] != "Z"


def cmdline(pid):
    """The command line of pid as one string ('' for zombies and kernel threads)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def children(pid):
    """Pids whose parent is pid, zombies included."""
    out = []
    for p in all_pids():
        st = proc_stat(p)
        if st is not None and st["ppid"] == pid:
            out.append(p)
    return out


def zombies(pids):
    """The pids among pids that are zombies (state Z)."""
    return [p for p in pids if (proc_stat(p) or {}).get("state") == "Z"]


def zombie_children(pid):
    """Children of pid that exited and were not reaped."""
    return zombies(children(pid))


def open_fds(pid):
    """{fd: target} of pid's open descriptors, e.g. {3: 'socket:[1234]'}."""
    out = {}
    base = f"/proc/{pid}/fd"
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for name in names:
        try:
            out[int(name)] = os.readlink(f"{base}/{name}")
        except OSError:
            pass  # closed while we looked
    return out


def shared_fds(child, parent):
    """Descriptors >= 3 of child that refer to something parent also has open.

    A supervisor that leaks a descriptor into ssh shows up here: the same pipe,
    socket or file is open in both (std descriptors are expected and skipped).
    """
    mine = {t for fd, t in open_fds(parent).items()}
    return {fd: t for fd, t in open_fds(child).items() if fd >= 3 and t in mine}


def stray_fds(pid, allow=()):
    """Descriptors >= 3 of pid whose target matches none of the regexes in allow."""
    return {fd: t for fd, t in open_fds(pid).items()
            if fd >= 3 and not any(re.search(a, t) for a in allow)}


def stop_pid(pid):
    """SIGSTOP pid (ignored if it is gone)."""
    _signal(pid, signal.SIGSTOP)


def cont_pid(pid):
    """SIGCONT pid (ignored if it is gone)."""
    _signal(pid, signal.SIGCONT)


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout, interval=0.05):
    """Poll predicate until it returns something true; that value, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


# --- namespaces ---------------------------------------------------------------

def netns_inode(ns):
    """Inode of a named network namespace, or None if it does not exist."""
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except FileNotFoundError:
        return None


def netns_pids(ns):
    """Live pids inside the named network namespace (what `ip netns pids` prints).

    Zombies have left their namespaces and are not listed.
    """
    ino = netns_inode(ns)
    out = []
    if ino is None:
        return out
    for p in all_pids():
        try:
            if os.stat(f"/proc/{p}/ns/net").st_ino == ino:
                out.append(p)
        except OSError:
            pass
    return out


def netns_socket(ns, family=socket.AF_INET, type=socket.SOCK_STREAM):
    """A socket created inside the named network namespace.

    setns() switches only the calling thread, so a short-lived thread enters the
    namespace and creates the socket; a socket keeps its namespace for life,
    and this process stays where it was.
    """
    box = {}

    def enter_and_create():
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                box["error"] = OSError(err, f"setns {ns}: {os.strerror(err)}")
                return
            box["sock"] = socket.socket(family, type)
        finally:
            os.close(fd)

    t = threading.Thread(target=enter_and_create)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["sock"]


def netns_listener(ns, addr, port, backlog=16):
    """A TCP socket listening on addr:port inside the named namespace.

    SO_REUSEADDR, as every real server sets it (ssh's forwards, sshd,
    mosquitto): the namespaces live for the whole session, and a tunnel an
    earlier test tore down with a connection open leaves ssh's end of it,
    local address addr:port, in TIME_WAIT for a minute. A plain bind() fails
    on that with EADDRINUSE although nothing listens; with SO_REUSEADDR only
    a real listener is a conflict. An IPv6 socket is IPv6 only.
    """
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = netns_socket(ns, family)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(backlog)
    except BaseException:
        s.close()
        raise
    return s


def _run(argv, input=None, check=True, timeout=15):
    """Run a host command; raise with its stderr if it fails and check is set."""
    r = subprocess.run(argv, input=input, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({r.returncode}): "
                           f"{r.stderr.strip()}")
    return r


def sweep_stale_labs():
    """Delete namespaces left by a lab whose process died without cleaning up."""
    r = _run(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(rf"{NS_PREFIX}(\d+)-\d+[cs]", name)
        if m is None or alive(int(m.group(1))):
            continue
        for p in netns_pids(name):
            _signal(p, signal.SIGKILL)
        _run(["ip", "netns", "del", name], check=False)


def _become_subreaper():
    if _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_CHILD_SUBREAPER)")


def _interrupt(signo, frame):
    raise KeyboardInterrupt(f"signal {signo}")


def _install_signal_handlers():
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, like Ctrl-C.

    The default action of those signals ends the process without running
    atexit handlers or finally blocks, which would leave namespaces behind.
    Handlers someone else installed are left alone.
    """
    global _signals_installed
    if _signals_installed or threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _interrupt)
    _signals_installed = True


# --- server side ----------------------------------------------------------------

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
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-sshd",
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
        lines = ["# Written by tests/integration/lab.py", *self.extra,
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
        _write(self.config_path, "\n".join(lines) + "\n")

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
        offset = _size(self.log_path)
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
            _signal(p, signal.SIGKILL)
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
        return _read(self.log_path, offset)


class Broker:
    """The real mosquitto broker on the server namespace's 127.0.0.1:1883."""

    def __init__(self, lab):
        self.lab = lab
        self.dir = os.path.join(lab.workdir, "broker")
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "mosquitto.conf")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.out_path = os.path.join(self.dir, "mosquitto.out")
        self.proc = None
        _write(self.config_path, "\n".join([
            "# Written by tests/integration/lab.py",
            f"listener {MQTT_PORT} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            # Stay root: the default drop to user mosquitto could not write
            # the log in the lab's root-only work directory.
            "user root",
            f"log_dest file {self.log_path}",
            "log_type error", "log_type warning", "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]) + "\n")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10):
        """Start mosquitto in the foreground and wait for "running" in its log
        (printed once every listener is open)."""
        if self.running():
            return
        offset = _size(self.log_path)
        out = open(self.out_path, "ab")
        try:
            self.proc = self.lab.server_popen(["mosquitto", "-c", self.config_path],
                                              stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}:\n"
                                   + _read(self.out_path) + self.log_text(offset))
            return re.search(r"mosquitto version \S+ running", self.log_text(offset))

        if not wait_for(ready, timeout):
            raise RuntimeError("mosquitto not ready in time:\n" + self.log_text(offset))

    def stop(self):
        if self.proc is not None:
            self.lab.terminate(self.proc)
            self.proc = None

    def publish(self, topic, payload, retain=False):
        """Publish directly on the server side (not through the tunnel)."""
        argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(MQTT_PORT),
                "-t", topic, "-m", payload, "-q", "1"]
        if retain:
            argv.append("-r")
        return self.lab.server_run(argv, timeout=10)

    def log_text(self, offset=0):
        return _read(self.log_path, offset)


class PortHold:
    """Listening sockets that keep a port busy in the server namespace."""

    def __init__(self, port, socks):
        self.port = port
        self.socks = socks

    def release(self):
        for s in self.socks:
            s.close()
        self.socks = []


# --- the program under test ---------------------------------------------------------

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
                    and p not in claimed and _exe(p) == self.exe):
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
            _signal(self.pid, sig)

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
        return _read(self.log_path)

    def output(self):
        return _read(self.out_path)


def _exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


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


# --- the lab --------------------------------------------------------------------------

class Lab:
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
        self.reaped = {}       # orphan pid -> status (Popen returncode convention)
        self.blackholed = False
        self._closed = False
        self._report = []
        self._out_counter = 0
        self.sshd = self.broker = None
        _become_subreaper()
        _install_signal_handlers()
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
        self._host(["ip", "netns", "add", c])
        self._host(["ip", "netns", "add", s])
        # Created directly inside the namespaces, so both ends can share a name.
        self._host(["ip", "link", "add", IFNAME, "netns", c, "type", "veth",
                    "peer", "name", IFNAME, "netns", s])
        for ns, addr, addr6 in ((c, self.client_addr, self.client_addr6),
                                (s, self.server_addr, self.server_addr6)):
            self._host(["ip", "-n", ns, "link", "set", "lo", "up"])
            self._host(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", IFNAME])
            if self.ipv6:
                # Linux drops IPv6 addresses when a link goes down unless told to
                # keep them; link_down()/link_up() must leave addresses as they were.
                self._host(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                            f"net.ipv6.conf.{IFNAME}.keep_addr_on_down=1"])
                self._host(["ip", "-n", ns, "addr", "add", f"{addr6}/64", "dev",
                            IFNAME, "nodad"])
            self._host(["ip", "-n", ns, "link", "set", IFNAME, "up"])
        self._wait_link_up()

    def _make_client_home(self):
        os.makedirs(self.ssh_dir, mode=0o700, exist_ok=True)
        if self.tree_in_home:
            os.makedirs(self.tree_in_home, exist_ok=True)
        key = os.path.join(self.ssh_dir, KEY_NAME)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-client",
              "-f", key])
        with open(key + ".pub") as f:
            _write(self.sshd.authorized_keys, f.read())
        hosts = [f"[{self.server_addr}]:{SSHD_PORT}"]
        if self.ipv6:
            hosts.append(f"[{self.server_addr6}]:{SSHD_PORT}")
        _write(self.known_hosts, f"{','.join(hosts)} {self.sshd.host_public_key}\n")
        self.write_ssh_config()

    def write_ssh_config(self, extra=(), hosts=None, server=None):
        """Write the client's ~/.ssh/config.

        Host Broker has the seed's shape plus the lines in extra (e.g.
        ["ServerAliveInterval 2", "ServerAliveCountMax 3"]). hosts maps more
        aliases to their extra lines; each gets the same HostName, Port, User and
        IdentityFile but no LocalForward (e.g. {"Reverse": ["RemoteForward 2222
        localhost:22"]}). server overrides HostName (e.g. lab.server_addr6).
        A final Host * pins the lab's known_hosts with strict checking.
        """
        server = server or self.server_addr
        common = [f"  HostName        {server}",
                  f"  IdentityFile    ~/.ssh/{KEY_NAME}",
                  "  User            root"]
        lines = ["# Written by tests/integration/lab.py", "Host Broker", *common,
                 f"  LocalForward    {TUNNEL_PORT} localhost:{MQTT_PORT}",
                 f"  Port            {SSHD_PORT}",
                 *(f"  {x}" for x in extra), ""]
        for alias, more in (hosts or {}).items():
            lines += [f"Host {alias}", *common, f"  Port            {SSHD_PORT}",
                      *(f"  {x}" for x in more), ""]
        lines += ["Host *",
                  f"  UserKnownHostsFile {self.known_hosts}",
                  "  StrictHostKeyChecking yes", ""]
        _write(self.ssh_config_path, "\n".join(lines))

    # --- running commands ---

    def _host(self, argv, quiet=False, **kw):
        self._log_command("$", argv, quiet)
        return _run(argv, **kw)

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
        tree's binaries and scripts are found at their usual paths.
        """
        if self.tree_in_home is None:
            script = 'mount --bind "$1" /root && shift && exec "$@"'
            args = [self.home]
        else:
            script = ('mount --bind "$2" "$3" && mount --rbind "$1" /root && '
                      'shift 3 && exec "$@"')
            args = [self.home, TREE, self.tree_in_home]
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

    # --- faults ---

    def blackhole(self):
        """Silently drop everything between client and server (nftables in the
        server namespace, both directions). No link event, no ICMP, no RST."""
        rules = [f"ip saddr {self.client_addr} drop"]
        out_rules = [f"ip daddr {self.client_addr} drop"]
        if self.ipv6:
            rules.append(f"ip6 saddr {self.client_addr6} drop")
            out_rules.append(f"ip6 daddr {self.client_addr6} drop")
        # add + delete + define replaces the table atomically, so calling
        # blackhole() twice does not stack duplicate rules.
        ruleset = "\n".join([
            f"add table inet {NFT_TABLE}",
            f"delete table inet {NFT_TABLE}",
            f"table inet {NFT_TABLE} {{",
            "  chain input {",
            "    type filter hook input priority filter - 10; policy accept;",
            *(f"    {r}" for r in rules),
            "  }",
            "  chain output {",
            "    type filter hook output priority filter - 10; policy accept;",
            *(f"    {r}" for r in out_rules),
            "  }",
            "}", ""])
        self._host(self.server_argv(["nft", "-f", "-"]), input=ruleset)
        self.blackholed = True

    def lift(self):
        """Remove the blackhole (idempotent)."""
        self._remove_blackhole(check=True)

    def _remove_blackhole(self, check, quiet=False):
        self._host(self.server_argv(["nft", "-f", "-"]), check=check, quiet=quiet,
                   input=f"add table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n")
        self.blackholed = False

    def link_down(self):
        """Take the client's veth down: a link event in the client namespace.
        Addresses stay (IPv6 too, see keep_addr_on_down); routes go."""
        self._host(["ip", "-n", self.client_ns, "link", "set", IFNAME, "down"])

    def link_up(self, timeout=5):
        """Bring the client's veth up and wait for carrier; the kernel restores
        the connected routes by itself."""
        self._host(["ip", "-n", self.client_ns, "link", "set", IFNAME, "up"])
        self._wait_link_up(timeout)

    def link_is_up(self):
        r = _run(["ip", "-n", self.client_ns, "-o", "link", "show", IFNAME])
        return "state UP" in r.stdout

    def _wait_link_up(self, timeout=5):
        if not wait_for(self.link_is_up, timeout):
            raise RuntimeError(f"{IFNAME} in {self.client_ns} has no carrier")

    def hold_remote_port(self, port, addresses=("127.0.0.1", "::1")):
        """Listen on port in the server namespace so that sshd cannot bind a
        remote forward there. sshd binds a loopback -R on both 127.0.0.1 and
        ::1 and succeeds if either works, hence both by default.
        Returns a PortHold; release() frees the port."""
        socks = []
        try:
            for addr in addresses:
                # Still refuses sshd's bind: only one socket may listen.
                socks.append(netns_listener(self.server_ns, addr, port))
        except BaseException:
            for s in socks:
                s.close()
            raise
        hold = PortHold(port, socks)
        self.holds.append(hold)
        return hold

    def forget_client_connections(self):
        """Abort the client's TCP connections to sshd with `ss -K` (the kernel
        forgets them and sends a RST, which a blackhole swallows: the server
        then keeps a stale session). Returns how many sockets were killed."""
        dsts = [self.server_addr] + ([f"[{self.server_addr6}]"] if self.ipv6 else [])
        killed = 0
        for dst in dsts:
            r = self._host(self.client_argv(
                ["ss", "-K", "-t", "-n", "-H", "dst", dst, "dport", "=", f":{SSHD_PORT}"]))
            killed += len([ln for ln in r.stdout.splitlines() if ln.strip()])
        return killed

    # --- the tunnel probe ---

    def mqtt_roundtrip(self, port=TUNNEL_PORT, timeout=2.0):
        """True if an MQTT message crosses the tunnel to the broker and back.

        mosquitto_pub stores a retained message with a fresh topic and payload
        (QoS 1: the broker's PUBACK must come back through the tunnel), then
        mosquitto_sub, a separate connection, must receive exactly that payload
        from the broker. Both talk to the client namespace's 127.0.0.1:port
        only. A last publish clears the retained message. Bounded by timeout.
        """
        deadline = time.monotonic() + timeout
        token = uuid.uuid4().hex
        common = ["-h", "127.0.0.1", "-p", str(port), "-t", f"lab/probe/{token}"]
        pub = self._bounded(["mosquitto_pub", *common, "-q", "1", "-r", "-m", token],
                            deadline)
        if pub.returncode != 0:
            return False
        # -W takes whole seconds; the process timeout still holds the deadline.
        wait_s = max(1, int(deadline - time.monotonic() + 0.999))
        sub = self._bounded(["mosquitto_sub", *common, "-C", "1", "-W", str(wait_s)],
                            deadline)
        ok = sub.returncode == 0 and sub.stdout.strip() == token
        if ok:
            # mosquitto_sub --remove-retained would do this, but then -C 1 no
            # longer ends it early.
            self._bounded(["mosquitto_pub", *common, "-q", "1", "-r", "-n"],
                          time.monotonic() + 1)
        return ok

    def _bounded(self, argv, deadline):
        remaining = max(0.05, deadline - time.monotonic())
        return self.client_run(argv, timeout=remaining, quiet=True)

    def wait_tunnel(self, timeout=10.0, port=TUNNEL_PORT, probe_timeout=2.0,
                    interval=0.1):
        """Probe until the tunnel answers; seconds it took, or None on timeout."""
        start = time.monotonic()
        while True:
            left = start + timeout - time.monotonic()
            if left <= 0:
                return None
            if self.mqtt_roundtrip(port, timeout=min(probe_timeout, left)):
                return time.monotonic() - start
            time.sleep(interval)

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
                _signal(p, signal.SIGKILL)
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
        return {name: _size(path) for name, path in self.log_paths().items()}

    def logs_since(self, marks=None):
        """{name: text} of each log written since marks (default: everything)."""
        marks = marks or {}
        return {name: _read(path, marks.get(name, 0))
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
                self._remove_blackhole(check=False, quiet=True)
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
                    _run(["ip", "netns", "del", ns], check=False)
            self._report = report
            return report
        finally:
            atexit.unregister(self.close)
            if main:
                signal.signal(signal.SIGINT, old_int)


# --- small file helpers ---

def _write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _read(path, offset=0):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0
