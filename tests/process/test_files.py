"""DESIGN.md §Files and cleanup on the real binary: the files autossh
creates have safe modes even under umask 0 (pidfile and log 0644, the
state file 0600 in a 0700 directory), and the state file and its directory
are never used through a symbolic link.

The unit tests (test_state.c, test_log.c, test_pidfile.c) cover the
functions; these tests cover the program as installed, in its real state
directory /run/autossh.  Each run gets a private mount namespace with a
fresh tmpfs on /run, so nothing here touches the machine's /run/autossh
(other autossh instances, a benchmark say, publish there).  Victim files
live in the test's tmp_path, outside that namespace, so that they can be
checked after autossh has exited and its namespace is gone.

The monitor's listener (loopback only) is covered by
tests/integration/test_monitor.py::test_loop_mode_passes_tests.
"""
import os
import signal
import stat

import pytest

from conftest import wait_for

RUNNING = ["forever 0"]
# A pid above any pid_max: never a running process.
DEAD_PID = 2147483646


@pytest.fixture(autouse=True)
def _need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: /run/autossh and a private mount namespace")


def start_private(run, name, setup, plan=RUNNING, **env):
    """Start autossh --name=name -M0 -N Broker in a private mount
    namespace whose /run is an empty tmpfs, after setup (shell)."""
    return run.start_private(setup, [f"--name={name}", "-M0", "-N", "Broker"],
                             plan, **env)


def in_ns(proc, path):
    """path as seen by proc (its mount namespace)."""
    return f"/proc/{proc.pid}/root{path}"


def stop(run):
    run.signal(signal.SIGTERM)
    assert run.proc.wait(timeout=10) == 1


def test_file_modes_even_under_umask_0(run):
    pidfile = run.tmp / "autossh.pid"
    old = os.umask(0)
    try:
        proc = start_private(run, "modes", "true",
                             AUTOSSH_PIDFILE=str(pidfile))
    finally:
        os.umask(old)
    assert run.wait_starts(1), run.stderr()
    state = in_ns(proc, "/run/autossh/modes.state")
    assert wait_for(lambda: os.path.exists(state)), run.stderr()
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text())
    for path, mode in ((str(pidfile), 0o644), (str(run.logfile), 0o644),
                       (state, 0o600)):
        st = os.lstat(path)
        assert stat.S_ISREG(st.st_mode), path
        assert stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))
    st = os.lstat(in_ns(proc, "/run/autossh"))
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    # Nothing was left writable for others on the way (the temporary file
    # is renamed, so none may remain); the handshake slot taken for the
    # start (DESIGN.md §Handshake slots) is private too.
    names = os.listdir(in_ns(proc, "/run/autossh"))
    slots = [n for n in names if n.startswith(".hs-fakehost-22-")]
    assert sorted(set(names) - set(slots)) == ["modes.state"]
    assert len(slots) == 1, names
    st = os.lstat(in_ns(proc, "/run/autossh/" + slots[0]))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    stop(run)
    assert not pidfile.exists()


def test_planted_state_links_are_not_followed(run, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    # Links at the state file's name and at the temporary name it is
    # written to first (".NAME.state.PID").
    setup = (f'mkdir /run/autossh && ln -s {victim} /run/autossh/links.state'
             f' && ln -s {victim} "/run/autossh/.links.state.$$"')
    proc = start_private(run, "links", setup)
    assert run.wait_starts(1), run.stderr()
    state = in_ns(proc, "/run/autossh/links.state")
    # The link is replaced by a regular file of autossh's own.
    assert wait_for(lambda: stat.S_ISREG(os.lstat(state).st_mode)), \
        run.log()
    assert f"pid {proc.pid}\n" in open(state).read()
    assert victim.read_text() == "precious\n"
    assert "unable to write the state file" not in run.log()
    stop(run)
    assert victim.read_text() == "precious\n"


def test_symlinked_state_directory_is_not_used(run, tmp_path):
    """/run/autossh is a link to another directory: autossh must neither
    write there nor read or remove anything there, and must keep running
    (publishing state is not worth stopping a tunnel for)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A file with our own state file's name, and one that parses as the
    # state of an instance that is gone (what the start-up sweep removes).
    own = elsewhere / "dirlink.state"
    own.write_text("precious\n")
    stale = elsewhere / "other.state"
    stale.write_text(f"name other\npid {DEAD_PID}\nstate up\n")
    before = sorted(os.listdir(elsewhere))
    proc = start_private(run, "dirlink", f"ln -s {elsewhere} /run/autossh")
    assert run.wait_starts(1), run.stderr()
    assert run.wait_log("/run/autossh is not a directory; the state is not "
                        "published"), \
        run.log()
    assert proc.poll() is None
    # The start-up sweep of stale state files must not look through the
    # link either.
    swept = stale.exists()
    stop(run)
    # Nor the removal of our state file at exit.
    removed = not own.exists()
    assert (swept, removed) == (True, False), (
        f"through the symlinked /run/autossh: the start-up sweep "
        f"{'kept' if swept else 'deleted'} {stale.name}; the exit "
        f"{'deleted' if removed else 'kept'} {own.name}")
    assert sorted(os.listdir(elsewhere)) == before
    assert own.read_text() == "precious\n"
