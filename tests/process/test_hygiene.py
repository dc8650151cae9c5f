"""What autossh takes from its surroundings, on the real binary: ssh's
output with NUL bytes in it, a pidfile or log file another user prepared,
descriptors the caller left open, and an `ssh -G` that must not outlive a
killed autossh.

Tests that need a second user run its part as `nobody` through runuser,
in a sticky world-writable directory made under /tmp (the pytest tmp_path
is private to root, so nobody could not reach it).
"""
import os
import select
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from conftest import FAKESSH, _autossh_bin, alive, wait_for

RUNNING = ["forever 0"]


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to act as a second user")


def stand_in(tmp, body):
    """An ssh stand-in script: `ssh -G` goes to fakessh, anything else runs
    body (sh) first and then becomes fakessh."""
    path = tmp / "ssh-stand-in"
    path.write_text(f"""#!/bin/sh
for a in "$@"; do
	if [ "$a" = -G ]; then
		exec {FAKESSH} "$@"
	fi
done
{body}
exec {FAKESSH} "$@"
""")
    path.chmod(0o755)
    return path


@pytest.fixture
def sticky_dir():
    d = tempfile.mkdtemp(prefix="autossh-sticky.", dir="/tmp")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(script):
    subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c", script],
                   check=True, timeout=10)


# --- ssh's output -------------------------------------------------------------

def test_nul_byte_in_ssh_output_hides_nothing(run):
    # A NUL used to end the buffer as a C string: the session line after
    # it was never read, so the tunnel was never up.
    ssh = stand_in(run.tmp, r"printf 'noise\000hidden\r\n"
                   r"debug1: Entering interactive session.\r\n' >&2")
    run.start(["-M0", "-N", "Broker"], RUNNING, AUTOSSH_PATH=ssh)
    assert run.wait_log("tunnel up after", timeout=10), run.log()
    assert "ssh: noise\\x00hidden" in run.log()


# --- the pidfile --------------------------------------------------------------

def test_pidfile_planted_by_another_user_is_refused(run, sticky_dir):
    # nobody creates the name first: root used to adopt the file, which
    # nobody could then rewrite (so that `kill $(cat pidfile)` hits a pid
    # of nobody's choice) or lock to keep autossh from starting.
    need_root()
    pidfile = os.path.join(sticky_dir, "tunnel.pid")
    as_nobody(f"echo 1 > {pidfile}")
    rc = run.run(["-M0", "-N", "Broker"], RUNNING, timeout=10,
                 AUTOSSH_PIDFILE=pidfile)
    assert rc == 1
    assert (f"AUTOSSH_PIDFILE: refusing {pidfile}: it belongs to uid "
            f"{os.stat(pidfile).st_uid}") in run.stderr()
    assert run.starts() == []
    assert open(pidfile).read() == "1\n"


def test_pidfile_in_a_directory_others_can_write_is_refused(run):
    # Without the sticky bit anyone may rename another's file away.
    d = run.tmp / "open"
    d.mkdir()
    d.chmod(0o777)
    rc = run.run(["-M0", "-N", "Broker"], RUNNING, timeout=10,
                 AUTOSSH_PIDFILE=d / "tunnel.pid")
    assert rc == 1
    assert (f"AUTOSSH_PIDFILE: refusing {d}/tunnel.pid: its directory is "
            "writable by others and not sticky") in run.stderr()
    assert run.starts() == []
    assert not (d / "tunnel.pid").exists()


def test_pidfile_in_a_sticky_directory_is_used(run, sticky_dir):
    pidfile = os.path.join(sticky_dir, "tunnel.pid")
    run.start(["-M0", "-N", "Broker"], RUNNING, AUTOSSH_PIDFILE=pidfile)
    assert wait_for(lambda: os.path.exists(pidfile) and
                    open(pidfile).read().strip() == str(run.proc.pid))
    st = os.stat(pidfile)
    assert st.st_uid == os.geteuid()
    assert stat.S_IMODE(st.st_mode) == 0o644


# --- the log file -------------------------------------------------------------

@pytest.mark.parametrize("reader", [False, True])
def test_fifo_as_log_file_is_refused_without_hanging(run, reader):
    # Opening a FIFO for writing blocks until someone reads it; with a
    # reader, each line would block once it stops reading.
    fifo = run.tmp / "log.fifo"
    os.mkfifo(fifo)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) if reader else None
    try:
        rc = run.run(["-M0", "-N", "Broker"], RUNNING, timeout=10,
                     AUTOSSH_LOGFILE=fifo)
    finally:
        if rd is not None:
            os.close(rd)
    assert rc == 1
    assert (f"AUTOSSH_LOGFILE: refusing {fifo}: not a regular file "
            "(nor /dev/null)") in run.stderr()
    assert run.starts() == []


def test_dev_null_as_log_file_is_fine(run):
    run.start(["-M0", "-N", "Broker"], RUNNING, AUTOSSH_LOGFILE="/dev/null")
    assert run.wait_starts(1)
    assert run.proc.poll() is None


# --- descriptors and children -------------------------------------------------

INHERITED_FD = 251


def start_with_inherited_fd(run, args, **env):
    """Start autossh with the write end of a pipe as its fd 251, as a
    careless caller would leave it; returns the read end."""
    r, w = os.pipe()
    os.dup2(w, INHERITED_FD, inheritable=True)
    os.close(w)
    run.plan.write_text("forever 0\n")
    run.stderr_file = open(run.stderr_path, "wb")
    try:
        run.proc = subprocess.Popen(
            [str(_autossh_bin())] + args, env=run.env(**env),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=run.stderr_file, cwd=run.tmp, pass_fds=(INHERITED_FD,))
    finally:
        os.close(INHERITED_FD)
    return r


def eof_within(fd, timeout):
    """True once the pipe's last writer has closed it."""
    if not select.select([fd], [], [], timeout)[0]:
        return False
    return os.read(fd, 1) == b""


def test_daemon_closes_inherited_descriptors(run):
    # A -f daemon kept the caller's fd 251; here the caller's pipe would
    # never see its end of file while the tunnel runs.
    pidfile = run.tmp / "tunnel.pid"
    r = start_with_inherited_fd(run, ["-f", "-M0", "-N", "Broker"],
                                AUTOSSH_PIDFILE=pidfile)
    daemon = None
    try:
        assert run.proc.wait(timeout=10) == 0
        assert wait_for(lambda: pidfile.exists() and pidfile.read_text())
        daemon = int(pidfile.read_text())
        assert run.wait_starts(1)
        assert not os.path.exists(f"/proc/{daemon}/fd/{INHERITED_FD}")
        assert eof_within(r, 5)
    finally:
        os.close(r)
        if daemon is not None and alive(daemon):
            os.kill(daemon, signal.SIGTERM)
            assert wait_for(lambda: not alive(daemon), 10)


def test_foreground_closes_inherited_descriptors(run):
    r = start_with_inherited_fd(run, ["-M0", "-N", "Broker"])
    try:
        assert run.wait_starts(1)
        assert not os.path.exists(
            f"/proc/{run.proc.pid}/fd/{INHERITED_FD}")
        assert eof_within(r, 5)
    finally:
        os.close(r)


def test_ssh_G_dies_with_autossh(run):
    # `ssh -G` that hangs (a slow Match exec, say) while autossh is
    # SIGKILLed: it used to live on, orphaned.
    gpid = run.tmp / "g.pid"
    ssh = run.tmp / "ssh-slow-G"
    ssh.write_text(f"""#!/bin/sh
echo $$ > {gpid}
exec sleep 60
""")
    ssh.chmod(0o755)
    run.start(["-M0", "-N", "Broker"], RUNNING, AUTOSSH_PATH=ssh)
    assert wait_for(lambda: gpid.exists() and gpid.read_text().strip())
    g = int(gpid.read_text())
    assert wait_for(lambda: open(f"/proc/{g}/comm").read().strip() ==
                    "sleep")
    try:
        run.proc.kill()
        run.proc.wait(timeout=10)
        assert wait_for(lambda: not alive(g), 5), "ssh -G outlived autossh"
    finally:
        if alive(g):
            os.kill(g, signal.SIGKILL)
