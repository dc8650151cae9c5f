"""Process tests: the real autossh binary supervising a stand-in ssh.

The stand-in (tests/process/fakessh.c, built as build/fakessh) follows a
plan file, one line per start, so each test scripts how "ssh" behaves and
then checks what autossh did: how many starts, with what arguments, what it
logged, how it exited, and that nothing was left behind.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKESSH = ROOT / "build" / "fakessh"


def _autossh_bin():
    env = os.environ.get("AUTOSSH_BIN")
    if env:
        return Path(env)
    for cand in (ROOT / "build" / "asan" / "autossh", ROOT / "autossh"):
        if cand.exists():
            return cand
    pytest.skip("no autossh binary: run make build/asan/autossh")


def wait_for(pred, timeout=10.0, step=0.02):
    """Poll pred() until it returns a true value or timeout passes."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            return v
        time.sleep(step)


def proc_state(pid):
    """The one-letter state of pid, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid):
    s = proc_state(pid)
    return s is not None and s != "Z"


def children(pid):
    """Pids whose parent is pid (including zombies)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


class Run:
    """One autossh under test with its stand-in ssh and files."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.plan = tmp / "plan"
        self.count = tmp / "count"
        self.sshlog = tmp / "ssh.log"
        self.querylog = tmp / "ssh-G.log"
        self.logfile = tmp / "autossh.log"
        self.proc = None
        self.stderr_path = tmp / "stderr"

    def env(self, **extra):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AUTOSSH_PATH": str(FAKESSH),
            "AUTOSSH_LOGFILE": str(self.logfile),
            "AUTOSSH_LOGLEVEL": "7",
            "FAKESSH_PLAN": str(self.plan),
            "FAKESSH_COUNT": str(self.count),
            "FAKESSH_LOG": str(self.sshlog),
            "FAKESSH_GLOG": str(self.querylog),
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
        }
        for k, v in extra.items():
            # None removes a variable.
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def start(self, args, plan, preexec_ignore=(), **env):
        """Start autossh with args; plan is a list of fakessh lines.
        preexec_ignore: signals autossh is started ignoring (as under
        nohup or a shell's trap '' SIG)."""
        self.plan.write_text("".join(line + "\n" for line in plan))
        self.stderr_file = open(self.stderr_path, "wb")

        def ignore():
            for sig in preexec_ignore:
                signal.signal(sig, signal.SIG_IGN)

        self.proc = subprocess.Popen(
            [str(_autossh_bin())] + list(args), env=self.env(**env),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.stderr_file, cwd=self.tmp,
            preexec_fn=ignore if preexec_ignore else None)
        return self.proc

    def start_private(self, setup, args, plan, **env):
        """Start autossh with args in a private mount namespace whose /run
        is an empty tmpfs, after setup (shell; $$ is autossh's pid, since
        the shell execs it).  plan lines are written as latin-1, so a test
        can give fakessh any byte.  Returns the Popen (also self.proc)."""
        self.plan.write_bytes("".join(line + "\n" for line in plan)
                              .encode("latin-1"))
        script = ('mount -t tmpfs -o mode=0755 tmpfs /run || exit 99\n' +
                  setup + ' && exec "$@"')
        argv = ["unshare", "--mount", "--propagation", "private",
                "sh", "-c", script, "sh", str(_autossh_bin())] + list(args)
        self.stderr_file = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, env=self.env(**env),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.stderr_file, cwd=self.tmp)
        return self.proc

    def run(self, args, plan, timeout=20, **env):
        """Run autossh to completion; return its exit status."""
        self.start(args, plan, **env)
        return self.proc.wait(timeout=timeout)

    def starts(self):
        """[(n, pid, args)] for every start of the stand-in."""
        if not self.sshlog.exists():
            return []
        out = []
        for line in self.sshlog.read_text().splitlines():
            f = line.split(" ", 5)
            out.append((int(f[1]), int(f[3]), f[5] if len(f) > 5 else ""))
        return out

    def queries(self):
        """How many times `ssh -G` was run."""
        if not self.querylog.exists():
            return 0
        return len(self.querylog.read_text().splitlines())

    def wait_starts(self, n, timeout=10):
        return wait_for(lambda: len(self.starts()) >= n, timeout)

    def ssh_pid(self):
        """The pid of the current stand-in, if it is alive."""
        s = self.starts()
        if s and alive(s[-1][1]):
            return s[-1][1]
        return None

    def log(self):
        return self.logfile.read_text() if self.logfile.exists() else ""

    def wait_log(self, text, timeout=10):
        return wait_for(lambda: text in self.log(), timeout)

    def stderr(self):
        if not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_bytes().decode(errors="replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def cleanup(self):
        """Kill what is left and report leftovers (a list of strings)."""
        left = []
        if self.proc is not None and self.proc.poll() is None:
            # Tests may leave autossh running: stop it the normal way,
            # which must also take its ssh down.
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                left.append(f"autossh {self.proc.pid} ignored SIGTERM")
                self.proc.kill()
                self.proc.wait()
        for n, pid, _ in self.starts():
            if alive(pid):
                left.append(f"stand-in ssh {pid} (start {n}) still alive")
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None and self.proc.returncode is not None:
            # A sanitizer report means a real bug even if the test passed.
            if "ERROR: AddressSanitizer" in self.stderr() or \
                    "runtime error:" in self.stderr() or \
                    "LeakSanitizer" in self.stderr():
                left.append("sanitizer report:\n" + self.stderr())
        return left


@pytest.fixture
def run(tmp_path, request):
    r = Run(tmp_path)
    yield r
    left = r.cleanup()
    if request.node.rep_call_failed if hasattr(request.node,
                                               "rep_call_failed") else False:
        print("--- autossh log ---\n" + r.log())
        print("--- autossh stderr ---\n" + r.stderr())
    assert not left, left


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call_failed = rep.failed


@pytest.fixture(autouse=True)
def _alarm(request):
    """A per-test time limit without plugins."""
    marker = request.node.get_closest_marker("timeout")
    limit = marker.args[0] if marker else 60

    def expired(signum, frame):
        raise TimeoutError(f"test exceeded {limit} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(limit)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test limit")
    if not FAKESSH.exists():
        raise pytest.UsageError("build/fakessh is missing: run make process")
