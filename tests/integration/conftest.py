"""pytest fixtures for the integration tests: the lab, the program under test, timeouts.

Fixtures:
- lab_requirements: skips with a clear reason unless root and the tools are there.
- lab_session: one Lab (the lab package, lab/) for the whole run, built on first use.
- lab: the same Lab, reset to its default state before each test, so tests are
  independent (no faults, no client processes, sshd and broker up with default
  configuration, the seed's ssh_config).
- autossh_bin: the program under test ($AUTOSSH_BIN, else build/asan/autossh,
  else ./autossh; skipped if none exists).
- autossh: a factory that starts the program in the client namespace and, at
  teardown, stops it and asserts that no ssh and no zombie is left behind.
- fd_check: fd_check(prog) lists descriptors the program leaked into its ssh.

On failure the report gets the test's share of sshd's, mosquitto's and the
program's logs. Every test has a timeout (default 120 s; @pytest.mark.timeout(N)).
"""

import os
import shutil
import signal

import pytest

import lab as labmod

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_TIMEOUT_S = 120
LOG_TAIL_LINES = 300

_log_marks = pytest.StashKey()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "timeout(seconds): fail the test if its setup and body take "
        f"longer (default {DEFAULT_TIMEOUT_S})")
    config.addinivalue_line(
        "markers", "long: minutes of waiting; `make soak` runs it, "
        "`make check` does not")


# --- timeouts -----------------------------------------------------------------------
# pytest-timeout is not available, so SIGALRM does the job. The alarm covers
# setup and the test body, not teardown: teardown is what cleans up and is
# bounded by its own waits. The handler raises in the main thread, which
# interrupts a blocking wait as well.

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    marker = item.get_closest_marker("timeout")
    seconds = marker.args[0] if marker else DEFAULT_TIMEOUT_S

    def on_alarm(signo, frame):
        pytest.fail(f"timeout: test took longer than {seconds} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    signal.setitimer(signal.ITIMER_REAL, 0)
    yield


# --- logs on failure -------------------------------------------------------------------

def _tail(text, lines=LOG_TAIL_LINES):
    parts = text.splitlines()
    if len(parts) <= lines:
        return text
    return f"[... {len(parts) - lines} earlier lines omitted]\n" + "\n".join(parts[-lines:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    used = item.funcargs.get("lab")
    if not isinstance(used, labmod.Lab):
        return
    # Attach only what was logged during this test.
    for name, text in used.logs_since(item.stash.get(_log_marks, None)).items():
        if text.strip():
            rep.sections.append((f"{name} ({rep.when})", _tail(text)))


# --- the lab ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def lab_requirements():
    """Skip, with the reason, unless the lab can be built here."""
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (network namespaces, nftables, sshd)")
    for tool in ("ip", "nft", "ss", "unshare", "ssh", "ssh-keygen", "mosquitto",
                 "mosquitto_pub", "mosquitto_sub"):
        if shutil.which(tool, path=labmod.SYSTEM_PATH) is None:
            pytest.skip(f"integration tests need {tool}, which is not installed")
    if not os.access(labmod.SSHD, os.X_OK):
        pytest.skip(f"integration tests need {labmod.SSHD} (openssh-server)")


@pytest.fixture(scope="session")
def lab_session(lab_requirements, tmp_path_factory):
    """The lab, built once per pytest run.

    Session scope because building it (keys, namespaces, sshd, broker) costs
    real time and every test module needs the same thing; the function-scoped
    `lab` fixture resets it between tests, which is what makes tests
    independent. A test that needs a lab of its own (say, to watch teardown)
    builds one with labmod.Lab(tmp_path, index=1).
    """
    shared = labmod.Lab(tmp_path_factory.mktemp("lab"))
    yield shared
    problems = shared.close()
    assert not problems, "lab teardown found: " + "; ".join(problems)


@pytest.fixture
def lab(lab_session, request):
    """The lab in its default state; client processes are killed afterwards."""
    lab_session.reset()
    request.node.stash[_log_marks] = lab_session.log_marks()
    yield lab_session
    lab_session.kill_client_processes()


# --- the program under test -------------------------------------------------------------

@pytest.fixture(scope="session")
def autossh_bin():
    """Path of the autossh under test."""
    path = os.environ.get("AUTOSSH_BIN")
    if path:
        if not os.access(path, os.X_OK):
            pytest.fail(f"AUTOSSH_BIN={path} is not an executable file")
        return os.path.abspath(path)
    for candidate in ("build/asan/autossh", "autossh"):
        path = os.path.join(REPO, candidate)
        if os.access(path, os.X_OK):
            return path
    pytest.skip("no autossh to test: build it (make) or set AUTOSSH_BIN")


def lingering_zombies(pid, grace_s=1.0):
    """Zombie children of pid still unreaped after grace_s (a supervisor may
    take a moment to reap an ssh that just exited)."""
    if labmod.wait_for(lambda: not labmod.zombie_children(pid), grace_s):
        return []
    return labmod.zombie_children(pid)


def supervised_ssh(lab, progs):
    """ssh processes in the client namespace that came from a supervisor:
    its children, or orphans the lab inherited as subreaper. An ssh the test
    started itself (a lab Popen) is not counted."""
    tracked = {p.pid for p in lab.procs}
    parents = {prog.pid for prog in progs if prog.pid} | {os.getpid()}
    return [p for p in lab.client_procs("ssh")
            if p not in tracked and (labmod.proc_stat(p) or {}).get("ppid") in parents]


@pytest.fixture
def autossh(lab, autossh_bin):
    """Start the program under test: autossh(args, env=None) -> AutosshProcess.

    At teardown every instance still running is checked for zombie children
    and stopped with SIGTERM; then no ssh of theirs may be left.
    """
    started = []

    def start(args, env=None, **kw):
        prog = lab.start_autossh(autossh_bin, list(args), env=env, **kw)
        started.append(prog)
        return prog

    yield start

    problems = []
    for prog in started:
        if prog.alive():
            stuck = lingering_zombies(prog.pid)
            if stuck:
                problems.append(f"{prog.name}: zombie children {stuck}")
            prog.stop()
    # ssh may need a moment to exit after its supervisor told it to.
    if labmod.wait_for(lambda: not supervised_ssh(lab, started), 10) is None:
        problems += [f"ssh left running: pid {p} ({labmod.cmdline(p)})"
                     for p in supervised_ssh(lab, started)]
    if problems:
        pytest.fail("after the test: " + "; ".join(problems), pytrace=False)


def tcp_to_sshd_inodes(pid):
    """Inodes of TCP sockets to sshd's port, as seen in pid's namespace."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == labmod.SSHD_PORT:
                inodes.add(fields[9])
    return inodes


@pytest.fixture
def fd_check():
    """fd_check(prog) -> problems: descriptors the supervisor shares with its
    ssh children (leaks across exec). Call it while the program runs.

    One sharing is by design: when the supervisor makes the connection
    itself (DESIGN.md §Liveness) it hands the TCP socket to ssh and keeps a
    copy for TCP_INFO, so a socket connected to sshd's port is expected in
    both."""
    def check(prog):
        problems = []
        for ssh in prog.ssh_pids():
            ours = {f"socket:[{i}]" for i in tcp_to_sshd_inodes(ssh)}
            shared = {fd: t for fd, t in labmod.shared_fds(ssh, prog.pid).items()
                      if t not in ours}
            if shared:
                problems.append(f"ssh pid {ssh} inherited {shared}")
        return problems
    return check
