"""The supervisor under valgrind (no leak across restarts: DESIGN.md
§Files and cleanup): a build without sanitizers (build/valgrind/autossh: the
release flags at -O1 -g) runs under memcheck through a whole restart cycle
with the stand-in ssh: quick failures and back-off, a start killed by a
signal, a SIGUSR1 restart, SIGHUP (with the log file rotated away, so it is
reopened), SIGUSR2, and SIGTERM.  valgrind must exit with autossh's own
status (1 on SIGTERM, as in 1.4), report no error and no leak, and autossh
must hold no descriptor beyond 0-2 at exit.

valgrind follows only the supervisor: without --trace-children, ssh (and
`ssh -G`) run natively once exec'd; the code between fork and exec still
runs under memcheck, and each such child writes its own log
(--log-file=...%p), which is checked too.

Run by `make valgrind` and, since valgrind is one of scripts/deps's
packages, by `make process` (so `make check`).  VALGRIND_AUTOSSH names
another binary to check.
"""
import glob
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import ROOT, wait_for

VG_AUTOSSH = os.environ.get("VALGRIND_AUTOSSH",
                            str(ROOT / "build" / "valgrind" / "autossh"))
FAIL = "30 255 ssh: connect to host fakehost port 22: Connection refused"
PLAN = [FAIL, FAIL, "30 sig:9", "forever 0", "forever 0"]


@pytest.fixture
def valgrind():
    path = shutil.which("valgrind")
    if path is None:
        pytest.skip("valgrind is not installed (scripts/deps installs it)")
    if not os.access(VG_AUTOSSH, os.X_OK):
        pytest.fail(f"{VG_AUTOSSH} is missing: make build/valgrind/autossh")
    with open(VG_AUTOSSH, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.fail(f"{VG_AUTOSSH} is a sanitizer build; valgrind "
                        "needs a plain one")
    return path


def vg_logs(tmp):
    """{pid: text} of every valgrind log of the run."""
    out = {}
    for path in glob.glob(str(tmp / "vg.*.log")):
        pid = int(re.search(r"vg\.(\d+)\.log$", path).group(1))
        with open(path, errors="replace") as f:
            out[pid] = f.read()
    return out


@pytest.mark.timeout(120)
def test_restart_cycle_under_valgrind(run, valgrind):
    argv = [valgrind, "--leak-check=full", "--show-leak-kinds=definite,"
            "indirect,possible", "--errors-for-leak-kinds=definite,indirect,"
            "possible", "--error-exitcode=99", "--track-fds=yes",
            f"--log-file={run.tmp}/vg.%p.log", VG_AUTOSSH,
            "-M0", "-N", "Broker"]
    run.plan.write_text("".join(line + "\n" for line in PLAN))
    run.stderr_file = open(run.stderr_path, "wb")
    run.proc = subprocess.Popen(
        argv, env=run.env(AUTOSSH_GATETIME="0", AUTOSSH_BACKOFF_MAX="1"),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=run.stderr_file, cwd=run.tmp)
    pid = run.proc.pid

    # Two refusals and a kill, each followed by a back-off; then it runs.
    assert run.wait_starts(4, timeout=60), run.log()
    assert wait_for(lambda: run.ssh_pid() == run.starts()[3][1], 10)
    assert run.log().count("retry in") == 3, run.log()

    fourth = run.ssh_pid()
    run.signal(signal.SIGUSR1)
    assert run.wait_starts(5, timeout=30), run.log()
    assert wait_for(lambda: run.ssh_pid() not in (None, fourth), 10)
    assert run.wait_log("restarting ssh on request", 10)

    # SIGHUP with the log rotated away: a new file, the same ssh.
    fifth = run.ssh_pid()
    rotated = run.logfile.with_suffix(".1")
    os.rename(run.logfile, rotated)
    run.signal(signal.SIGHUP)
    assert wait_for(lambda: run.logfile.exists(), 20), rotated.read_text()
    run.signal(signal.SIGUSR2)
    assert run.wait_log(f"ssh pid {fifth}", 20), run.log()

    run.signal(signal.SIGTERM)
    status = run.proc.wait(timeout=60)
    logs = vg_logs(run.tmp)
    main = logs.get(pid, "")
    assert main, f"no valgrind log for pid {pid}: {sorted(logs)}"
    assert status == 1, f"exit status {status}:\n{main}"
    assert run.ssh_pid() is None
    assert len(run.starts()) == 5

    assert "ERROR SUMMARY: 0 errors" in main, main
    assert "definitely lost" not in main or \
        re.search(r"definitely lost: 0 bytes", main), main
    assert "Invalid" not in main and "uninitialised" not in main, main
    # At exit only the standard descriptors are open, and what autossh
    # inherited (valgrind's own log file shows up as one).
    assert re.search(r"FILE DESCRIPTORS: \d+ open \(\d+ std\) at exit", main)
    opened = re.findall(r"Open (?:file descriptor|\S+ socket) (\d+):"
                        r"([^\n]*)\n==\d+==\s+([^\n]*)", main)
    ours = [(fd, what) for fd, what, where in opened
            if "inherited from parent" not in where]
    assert ours == [], main
    # Children (between fork and exec, or a failed exec) made no errors.
    for child, text in logs.items():
        if child != pid:
            assert "ERROR SUMMARY: 0 errors" in text or \
                "ERROR SUMMARY" not in text, text
