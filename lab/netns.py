"""Network namespaces: finding them, entering them, sockets inside them.

Owns the low-level side of the lab's two namespaces: their inodes and
processes, setns(2) for one thread, sockets and listeners created inside a
namespace, and the sweep of namespaces a dead lab left behind.  Building
and tearing down the namespaces of a lab is the Lab's job (core.py).
"""

import ctypes
import os
import queue
import re
import signal
import socket
import threading

from .constants import NS_PREFIX
from .procs import alive, all_pids, run, signal_pid

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


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


def enter_netns(ns):
    """Move the calling thread into the named network namespace (setns(2)).

    Only the calling thread moves, for good: call it in a thread of its own
    (netns_socket() and SocketMaker do).  Raises OSError on failure.
    """
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def netns_socket(ns, family=socket.AF_INET, type=socket.SOCK_STREAM):
    """A socket created inside the named network namespace.

    setns() switches only the calling thread, so a short-lived thread enters the
    namespace and creates the socket; a socket keeps its namespace for life,
    and this process stays where it was.
    """
    box = {}

    def enter_and_create():
        try:
            enter_netns(ns)
        except OSError as e:
            box["error"] = e
            return
        box["sock"] = socket.socket(family, type)

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


class SocketMaker:
    """Makes sockets inside a network namespace from one long-lived thread.

    netns_socket() starts a thread per socket; a probe that makes ten
    sockets a second per tunnel wants one thread that entered the namespace
    once and serves them all.  Raises OSError at construction if the
    namespace cannot be entered.
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
            enter_netns(self.ns)
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
        """A new TCP socket of family inside the namespace."""
        box = queue.Queue(1)
        self.requests.put((family, box))
        got = box.get()
        if isinstance(got, Exception):
            raise got
        return got


def sweep_stale_labs():
    """Delete namespaces left by a lab whose process died without cleaning up."""
    r = run(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(rf"{NS_PREFIX}(\d+)-\d+[cs]", name)
        if m is None or alive(int(m.group(1))):
            continue
        for p in netns_pids(name):
            signal_pid(p, signal.SIGKILL)
        run(["ip", "netns", "del", name], check=False)
