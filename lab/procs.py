"""Processes: /proc inspection, signals, waiting, host commands, small files.

Works on any pid, inside a lab or not; used by tests, teardown and bench.
Also makes the lab process a child subreaper and turns SIGTERM/SIGHUP into
KeyboardInterrupt so that cleanup runs.  Owns no lab state.
"""

import ctypes
import os
import re
import shlex
import signal
import subprocess
import threading
import time

_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)
_signals_installed = False


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
    signal_pid(pid, signal.SIGSTOP)


def cont_pid(pid):
    """SIGCONT pid (ignored if it is gone)."""
    signal_pid(pid, signal.SIGCONT)


def signal_pid(pid, sig):
    """Send sig to pid (ignored if it is gone)."""
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


def run(argv, input=None, check=True, timeout=15):
    """Run a host command; raise with its stderr if it fails and check is set."""
    r = subprocess.run(argv, input=input, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({r.returncode}): "
                           f"{r.stderr.strip()}")
    return r


def become_subreaper():
    """Make this process a child subreaper (see the package docstring)."""
    if _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_CHILD_SUBREAPER)")


def _interrupt(signo, frame):
    raise KeyboardInterrupt(f"signal {signo}")


def install_signal_handlers():
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


def write_file(path, text):
    """Write text to path (mode 0600, truncating)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def read_text(path, offset=0):
    """The text of path from byte offset on; '' if the file does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def file_size(path):
    """Size of path in bytes; 0 if it does not exist."""
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0
