"""What a state file can make `autossh --status` and a running instance do,
on the real binary: a pid is signalled only when it is proven to be the
instance that wrote the file, a state directory or file that someone else
can write is refused (and a FIFO there cannot hang autossh), and what ssh
printed reaches the terminal, systemd and JSON only escaped.

Every run gets a private mount namespace with an empty tmpfs on /run, so
the machine's /run/autossh is never touched; files planted "by another
user" are written there by `nobody` through setpriv.  The cases where a
pid is out of range run in a private pid namespace as well, where even
kill(-1) can reach only the test's own processes.
"""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import _autossh_bin, alive, wait_for

# What ssh may print: a window title, a clear-screen, a C1 CSI in UTF-8,
# a raw 8-bit CSI and a byte that is not UTF-8 at all.  Files are written
# as latin-1, so each character here is one byte there.
HOSTILE = "\033]0;pwned\007\033[2J \302\233X \233Y \377Z"
HOSTILE_PLAN = [f"50 255 {HOSTILE} Connection refused", "forever 0"]
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture(autouse=True)
def _need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: private mount and pid namespaces")


def starttime(pid):
    """Field 22 of /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def clean_text(data):
    """Fail unless data is valid UTF-8 without controls other than newline:
    no C0, DEL or C1 (U+0080..U+009F)."""
    text = data.decode("utf-8")     # strict: raises on invalid bytes
    bad = [c for c in text if c != "\n" and
           (ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f)]
    assert not bad, (bad, text)
    return text


@pytest.fixture
def victim():
    """An unrelated process that SIGUSR2 would kill (default action)."""
    p = subprocess.Popen(["sleep", "120"])
    yield p
    p.kill()
    p.wait()


def ns_sh(tmp, script, pidns=False, timeout=30, env=None):
    """Run script in a private mount namespace (and pid namespace) whose
    /run is an empty tmpfs; $A is autossh.  Returns CompletedProcess."""
    head = ["unshare", "--mount", "--propagation", "private"]
    if pidns:
        head += ["--pid", "--fork", "--mount-proc"]
    # Nothing may run before the mount: it would touch the real /run.
    full = "mount -t tmpfs -o mode=0755 tmpfs /run || exit 99\n" + script
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
         "A": str(_autossh_bin()),
         "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"}
    e.update(env or {})
    # A session of its own: a signal to "our process group" from inside
    # reaches nothing of pytest's.
    return subprocess.run(head + ["sh", "-c", full], env=e, cwd=tmp,
                          capture_output=True, timeout=timeout,
                          start_new_session=True)


def state_text(name, pid, start=None, dest="Broker"):
    text = f"name {name}\ndestination {dest}\npid {pid}\nstate up\n"
    if start is not None:
        text += f"start_time {start}\n"
    return text


@pytest.mark.parametrize("start", ["other", "none"])
def test_status_never_signals_a_reused_pid(tmp_path, victim, start):
    """The instance was SIGKILLed and its pid now belongs to an unrelated
    process: --status shows a stale file and does not signal that
    process."""
    t = starttime(victim.pid)
    f = tmp_path / "gone.state"
    f.write_text(state_text("gone", victim.pid,
                            t - 1 if start == "other" else None))
    r = ns_sh(tmp_path, f"mkdir -m 0700 /run/autossh && "
              f"install -m 0600 {f} /run/autossh/gone.state && "
              f'"$A" --status gone; echo "rc=$?"; '
              f'"$A" --status --json gone')
    time.sleep(0.2)
    assert alive(victim.pid), "--status signalled an unrelated process"
    out = r.stdout.decode()
    assert "rc=1" in out, out + r.stderr.decode()
    if start == "other":
        assert f"gone: not running (stale state from pid {victim.pid})" \
            in out
    doc = json.loads(out.split("rc=1\n", 1)[1])
    assert doc[0]["running"] is False


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pid", ["4294967295", "4294967296"])
def test_status_out_of_range_pid_in_a_pid_namespace(tmp_path, pid):
    """4294967295 cast to pid_t is -1 (kill every process), 4294967296 is
    0 (our process group).  Only ever run in a private pid namespace."""
    f = tmp_path / "wild.state"
    f.write_text(state_text("wild", pid))
    r = ns_sh(tmp_path, f"sleep 60 & S=$!; mkdir -m 0700 /run/autossh && "
              f"install -m 0600 {f} /run/autossh/wild.state && "
              f'"$A" --status wild; echo "rc=$?"; '
              f'if kill -0 $S; then echo survived; fi; kill $S',
              pidns=True)
    out = r.stdout.decode()
    assert "survived" in out, out + r.stderr.decode()
    assert "rc=1" in out, out
    # Not a state file at all.
    assert "no autossh named wild" in r.stderr.decode()


@pytest.mark.parametrize("how", ["world-writable", "owned by nobody"])
def test_status_refuses_a_directory_others_can_write(tmp_path, victim, how):
    """nobody plants a perfect forgery (the victim's pid and start time)
    with escape sequences: --status as root must neither signal the
    victim nor print the file."""
    f = tmp_path / "forged.state"
    f.write_bytes(state_text("forged", victim.pid, starttime(victim.pid),
                             dest=HOSTILE).encode("latin-1"))
    mk = ("mkdir -m 1777 /run/autossh" if how == "world-writable" else
          "mkdir -m 0700 /run/autossh && chown nobody /run/autossh")
    # Our shell opens the file; nobody only writes what it reads.
    plant = (" ".join(NOBODY) +
             f" sh -c 'cat > /run/autossh/forged.state' < {f}")
    r = ns_sh(tmp_path, f'{mk} && {plant} && ls -ln /run/autossh && '
              f'"$A" --status forged; echo "rc=$?"; "$A" --status; '
              f'"$A" --status --json')
    time.sleep(0.2)
    assert alive(victim.pid), "--status signalled the forged pid"
    out = clean_text(r.stdout)
    assert " 65534 " in out and "forged.state" in out, out  # planted
    assert "rc=1" in out, out
    assert "up" not in out.split("rc=1")[1], out
    assert "refusing the state directory /run/autossh" in \
        r.stderr.decode(), r.stderr


def test_status_escapes_raw_bytes_in_a_file_of_our_own(tmp_path):
    """Our own file, written by hand or by anything else running as us,
    with raw controls and bytes that are not UTF-8 in its name (the file
    name too) and its strings: the listing escapes the name for humans,
    and the JSON is valid UTF-8 (controls as \\u, bad bytes as U+FFFD)."""
    name = "x\033[2J\233y\377"
    printf_name = "x\\033[2J\\233y\\377"
    f = tmp_path / "raw.state"
    dead = subprocess.Popen(["true"])
    dead.wait()
    f.write_bytes((state_text(name, dead.pid, 1, dest=HOSTILE) +
                   f"last_status 255\nlast_reason {HOSTILE}\n")
                  .encode("latin-1"))
    r = ns_sh(tmp_path, f"mkdir -m 0700 /run/autossh && "
              # printf makes the raw bytes; argv would be UTF-8.
              f"cp {f} \"/run/autossh/$(printf '{printf_name}').state\" && "
              f"chmod 0600 /run/autossh/*.state && "
              f'"$A" --status; echo "rc=$?"; "$A" --status --json')
    out = r.stdout.decode("utf-8", errors="replace")
    human, js = r.stdout.split(b"rc=1\n", 1)
    clean_text(human)
    assert b"not running (stale state from pid" in human, out
    doc = json.loads(js.decode("utf-8"))  # strict
    assert doc[0]["running"] is False
    assert doc[0]["name"] == "x\033[2J\ufffdy\ufffd"
    assert doc[0]["destination"].startswith("\033]0;pwned\007")
    assert "\u009b" in doc[0]["destination"]


def stop(run):
    run.signal(signal.SIGTERM)
    assert run.proc.wait(timeout=10) == 1


@pytest.mark.timeout(40)
def test_fifo_at_the_state_file_name_does_not_hang(run):
    """A FIFO where the state file goes: open() would wait for a writer,
    and SIGTERM would not end the wait."""
    run.start_private("mkdir -m 0700 /run/autossh && "
                      "mkfifo -m 0600 /run/autossh/fifo.state",
                      ["--name=fifo", "-M0", "-N", "Broker"], ["forever 0"])
    assert run.wait_starts(1, timeout=10), "blocked before starting ssh"
    stop(run)


@pytest.mark.timeout(40)
def test_planted_fifo_in_a_shared_directory(run):
    """nobody plants a FIFO as the state file in a world-writable state
    directory (what the pidfile's directory, /tmp say, used to be without
    XDG_RUNTIME_DIR): autossh says it refuses the directory and runs."""
    run.start_private("mkdir -m 1777 /run/autossh && " + " ".join(NOBODY) +
                      " mkfifo -m 0666 /run/autossh/shared.state",
                      ["--name=shared", "-M0", "-N", "Broker"], ["forever 0"])
    assert run.wait_starts(1, timeout=10), "blocked before starting ssh"
    assert run.wait_log("refusing the state directory /run/autossh: "
                        "writable by others (mode 1777)"), run.log()
    stop(run)


def in_ns(pid, *argv):
    return subprocess.run(["nsenter", f"--mount=/proc/{pid}/ns/mnt", "--"]
                          + list(argv), capture_output=True, timeout=20)


def start_hostile(run):
    """An instance whose ssh printed HOSTILE; returns its Popen once
    --status shows those words."""
    proc = run.start_private("true", ["--name=esc", "-M0", "-N", "Broker"],
                             HOSTILE_PLAN, AUTOSSH_GATETIME="0")
    assert run.wait_starts(2), run.log()
    assert wait_for(lambda: b"pwned" in in_ns(
        proc.pid, str(_autossh_bin()), "--status", "--json").stdout)
    return proc


@pytest.mark.timeout(60)
def test_status_human_output_is_escaped(run):
    proc = start_hostile(run)
    human = in_ns(proc.pid, str(_autossh_bin()), "--status", "esc")
    text = clean_text(human.stdout)
    assert "esc: " in text and "pwned" in text
    stop(run)


@pytest.mark.timeout(60)
def test_status_json_is_utf8(run):
    proc = start_hostile(run)
    r = in_ns(proc.pid, str(_autossh_bin()), "--status", "--json")
    doc = json.loads(r.stdout.decode("utf-8"))  # strict
    assert doc[0]["name"] == "esc" and doc[0]["running"] is True
    assert "pwned" in doc[0]["last_exit"]["reason"]
    stop(run)


@pytest.mark.timeout(60)
def test_status_notifications_are_escaped(run, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    got = []
    try:
        run.start_private("true", ["--name=notify", "-M0", "-N", "Broker"],
                          HOSTILE_PLAN, AUTOSSH_GATETIME="0",
                          NOTIFY_SOCKET=path)

        def backing_off():
            try:
                got.append(sock.recv(4096))
            except socket.timeout:
                pass
            return any(b"pwned" in m for m in got)
        assert wait_for(backing_off, 15), got
        stop(run)
    finally:
        sock.close()
    for m in got:
        # One assignment per message: ssh's words cannot add another.
        assert m.count(b"=") >= 1 and b"\n" not in m, m
        clean_text(m)


@pytest.mark.timeout(60)
def test_wait_output_is_escaped(run, tmp_path):
    """-f --wait: the foreground prints ssh's last words on a terminal."""
    pidfile = tmp_path / "wait.pid"
    run.start_private("true", ["--name=wait", "-f", "--wait=20", "-M0",
                               "-N", "Broker"], [f"50 255 {HOSTILE}"],
                      AUTOSSH_GATETIME="0", AUTOSSH_MAXSTART="2",
                      AUTOSSH_PIDFILE=str(pidfile))
    rc = run.proc.wait(timeout=30)
    err = run.stderr_path.read_bytes()
    assert rc == 1, err
    assert b"pwned" in err, err
    clean_text(err)
    # The daemon stops by itself after AUTOSSH_MAXSTART starts.
    assert wait_for(lambda: not pidfile.exists(), 10)
