"""What the bench measures, read from the outside so that it means the same for any autossh.

MQTT CONNECT/CONNACK timing through a tunnel, the supervisor's ssh children
followed in /proc, context switches and RSS, nftables byte and SYN counters
in the server namespace, and connection arrivals in sshd's log.  Knows
nothing of scenarios or workers.
"""

import errno
import json
import os
import re
import selectors
import signal
import socket
import threading
import time

import lab as labmod


def now():
    return time.monotonic()


def mqtt_connect_packet(client_id):
    """An MQTT 3.1.1 CONNECT with a clean session."""
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    return bytes([0x10, len(var)]) + var


def wait_connack(maker, port, t_ref, deadline, interval=0.1, attempt_s=2.0,
                 stop=None):
    """Seconds from t_ref until an MQTT CONNECT to 127.0.0.1:port is answered
    with a CONNACK, or None at the deadline (or when stop() is true).

    A new attempt starts every interval while earlier ones are still pending
    (each gives up after attempt_s), so a tunnel that starts to work is seen
    within about interval plus one round trip, even while older attempts hang
    in a stalled connection.
    """
    sel = selectors.DefaultSelector()
    packet = mqtt_connect_packet(f"bench-{os.getpid()}-{port}")
    pending = {}
    next_try = now()
    try:
        while True:
            t = now()
            if t >= deadline or (stop and stop()):
                return None
            if t >= next_try and len(pending) < 40:
                next_try = t + interval
                s = maker.socket()
                s.setblocking(False)
                err = s.connect_ex(("127.0.0.1", port))
                if err in (0, errno.EINPROGRESS):
                    st = {"sock": s, "phase": "connect", "buf": b"",
                          "until": t + attempt_s}
                    pending[s] = st
                    sel.register(s, selectors.EVENT_WRITE, st)
                else:
                    s.close()
            wake = min([next_try, deadline] + [st["until"] for st in pending.values()])
            for key, _ in sel.select(max(0.0, wake - now())):
                st = key.data
                s = st["sock"]
                try:
                    if st["phase"] == "connect":
                        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                            raise OSError("connect failed")
                        s.send(packet)
                        st["phase"] = "read"
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    data = s.recv(4 - len(st["buf"]))
                    if not data:
                        raise OSError("closed")
                    st["buf"] += data
                    if len(st["buf"]) == 4:
                        if st["buf"][0] == 0x20 and st["buf"][3] == 0:
                            got = now() - t_ref
                            try:
                                s.send(b"\xe0\x00")  # DISCONNECT
                            except OSError:
                                pass
                            return got
                        raise OSError("not a CONNACK")
                except OSError:
                    sel.unregister(s)
                    pending.pop(s, None)
                    s.close()
            t = now()
            for s, st in list(pending.items()):
                if t >= st["until"]:
                    sel.unregister(s)
                    del pending[s]
                    s.close()
    finally:
        for s in pending:
            s.close()
        sel.close()


def wait_answer(lab, maker, t_ref, bound, port=labmod.TUNNEL_PORT, interval=0.1):
    """Seconds from t_ref until the tunnel answers MQTT (CONNACK, confirmed by
    the lab's publish/subscribe round trip), or None after bound seconds.
    A new MQTT try every interval seconds."""
    deadline = t_ref + bound
    while True:
        got = wait_connack(maker, port, t_ref, deadline, interval=interval)
        if got is None:
            return None
        if lab.mqtt_roundtrip(port, timeout=3.0):
            return got
        # Answered once but the full round trip failed: keep looking.


class SshWatch(threading.Thread):
    """Follows a supervisor's ssh children in /proc every 20 ms: when each was
    first seen and when it was gone, and when the supervisor itself ended."""

    def __init__(self, pid, interval=0.02):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.born = {}       # ssh pid -> monotonic time first seen
        self.gone = {}       # ssh pid -> monotonic time gone (or zombie)
        self.exited_at = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.start()

    def _children(self):
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                return [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            return []

    def run(self):
        while not self._stop.is_set():
            t = now()
            st = labmod.proc_stat(self.pid)
            live = set()
            for c in self._children():
                cs = labmod.proc_stat(c)
                if cs and cs["comm"] == "ssh" and cs["state"] != "Z":
                    live.add(c)
            with self.lock:
                for c in live:
                    self.born.setdefault(c, t)
                for c in self.born:
                    if c not in live and c not in self.gone:
                        self.gone[c] = t
                if (st is None or st["state"] == "Z") and self.exited_at is None:
                    self.exited_at = t
                    for c in self.born:
                        self.gone.setdefault(c, t)
                    return
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()

    def alive_ssh(self):
        with self.lock:
            return {c for c in self.born if c not in self.gone}

    def noticed(self, ssh0, t0, bound):
        """Seconds from t0 until one of ssh0 is gone or the supervisor exited;
        None if neither happened within bound seconds."""
        def check():
            with self.lock:
                times = [self.gone[c] for c in ssh0 if c in self.gone]
                if self.exited_at is not None:
                    times.append(self.exited_at)
            return min(times) if times else None
        got = labmod.wait_for(check, max(0.0, t0 + bound - now()), interval=0.02)
        return None if got is None else max(0.0, got - t0)

    def starts_between(self, t0, t1):
        with self.lock:
            return len([c for c, t in self.born.items() if t0 <= t < t1])


def read_ctxt(pid):
    """Voluntary + involuntary context switches of every thread of pid."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches",
                                        "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def read_status_kb(pid, key):
    """A KiB figure of /proc/PID/status (\"VmRSS\", \"RssAnon\"), or None if
    pid is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def median_of(samples):
    """Median with None (not within the bound) counted as slower than any number."""
    if not samples:
        return None
    keyed = sorted(samples, key=lambda v: float("inf") if v is None else v)
    n = len(keyed)
    if n % 2:
        return keyed[n // 2]
    a, b = keyed[n // 2 - 1], keyed[n // 2]
    if a is None or b is None:
        return None
    return (a + b) / 2


NFT_COUNT_TABLE = "ashbench_count"


def _nft_counters(lab, workdir, table, inputs, outputs):
    """(Re)create the nftables table `table` in the server namespace with
    one counting rule per line of inputs (hook input) and outputs (hook
    output), after the lab's own rules; the ruleset is kept in workdir."""
    hook = "    type filter hook {} priority filter + 10; policy accept;"
    ruleset = "\n".join(
        [f"add table inet {table}", f"delete table inet {table}",
         f"table inet {table} {{",
         "  chain input {", hook.format("input")]
        + [f"    {rule} counter" for rule in inputs]
        + ["  }", "  chain output {", hook.format("output")]
        + [f"    {rule} counter" for rule in outputs]
        + ["  }", "}", ""])
    path = os.path.join(workdir, f"{table}.nft")
    with open(path, "w") as f:
        f.write(ruleset)
    r = lab.server_run(["nft", "-f", path])
    if r.returncode != 0:
        raise RuntimeError(f"nft: {r.stderr}")


def count_on(lab, workdir):
    """nftables counters in the server namespace for everything from and to
    the client's addresses (IP packet bytes, i.e. without the link header)."""
    c, c6 = lab.client_addr, lab.client_addr6
    _nft_counters(lab, workdir, NFT_COUNT_TABLE,
                  [f"ip saddr {c}", f"ip6 saddr {c6}"],
                  [f"ip daddr {c}", f"ip6 daddr {c6}"])


def count_read(lab):
    """(packets, bytes) counted since count_on()."""
    r = lab.server_run(["nft", "list", "table", "inet", NFT_COUNT_TABLE], quiet=True)
    pk = by = 0
    for m in re.finditer(r"counter packets (\d+) bytes (\d+)", r.stdout):
        pk += int(m.group(1))
        by += int(m.group(2))
    return pk, by


NFT_SYN_TABLE = "ashbench_syn"


def syn_count_on(lab, workdir):
    """nftables counters in the server namespace: connection attempts (SYN
    without ACK) from the client to sshd's port, and the RSTs sent back."""
    c, c6, port = lab.client_addr, lab.client_addr6, labmod.SSHD_PORT
    syn = "tcp flags & (syn | ack) == syn"
    rst = "tcp flags & rst == rst"
    _nft_counters(lab, workdir, NFT_SYN_TABLE,
                  [f"ip saddr {c} tcp dport {port} {syn}",
                   f"ip6 saddr {c6} tcp dport {port} {syn}"],
                  [f"ip daddr {c} tcp sport {port} {rst}",
                   f"ip6 daddr {c6} tcp sport {port} {rst}"])


def syn_count_read(lab):
    """(SYNs, bytes of those SYNs and of the RSTs) since syn_count_on()."""
    r = lab.server_run(["nft", "list", "table", "inet", NFT_SYN_TABLE], quiet=True)
    syns = by = 0
    for line in r.stdout.splitlines():
        m = re.search(r"counter packets (\d+) bytes (\d+)", line)
        if m:
            by += int(m.group(2))
            if "dport" in line:
                syns += int(m.group(1))
    return syns, by


class ArrivalLog(threading.Thread):
    """Tails sshd's log (sshd -e writes no time stamps) and stamps each new
    connection as it is read: accepted ("Connection from") or dropped by
    MaxStartups ("drop connection #")."""

    PAT = re.compile(r"Connection from \S+ port \d+ on|drop connection #\d+")

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.offset = os.path.getsize(path)
        self.events = []   # (time, "accept"|"drop")
        self._stop = threading.Event()
        self.start()

    def run(self):
        buf = b""
        while not self._stop.is_set():
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
            if data:
                t = now()
                self.offset += len(data)
                buf += data
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    m = self.PAT.search(line.decode(errors="replace"))
                    if m:
                        kind = "drop" if m.group(0).startswith("drop") else "accept"
                        self.events.append((t, kind))
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()


# Run in the client namespace by handshake_rate(): count logins of
# `ssh -f -N host`, at most at_once running, each started as soon as one
# ends; prints their JSON summary. With -f and -N (and no forward to wait
# for) ssh goes to the background once authenticated, so the foreground's
# exit is the handshake's end; the background ones stay connected, as a
# tunnel's ssh does, until the caller stops them.
HANDSHAKE_DRIVER = r"""
import json, os, subprocess, sys, time
host, count, at_once = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
argv = ["ssh", "-o", "BatchMode=yes", "-f", "-N", host]
running, took, failed = {}, [], 0
t0 = time.monotonic()
while len(took) + failed < count:
    while len(running) < at_once and len(took) + failed + len(running) < count:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running[p.pid] = (p, time.monotonic())
    pid, status = os.wait()
    if pid not in running:
        continue
    p, t = running.pop(pid)
    if status == 0:
        took.append(time.monotonic() - t)
    else:
        failed += 1
print(json.dumps({"elapsed": time.monotonic() - t0, "ok": len(took),
                  "failed": failed, "took": took}))
"""


def handshake_rate(lab, host, count, at_once, timeout=120):
    """sshd's handshake rate: count logins of `ssh -f -N host` run from the
    client namespace, at most at_once at a time (below MaxStartups' 10, so
    that sshd drops none), each started as soon as one ends; a login ends
    when ssh is authenticated. Returns {"rate": logins a second, "ok",
    "failed", "elapsed", "median": seconds of one login}; the client's ssh
    shares the machine with sshd, as the tunnels' ssh does. Every ssh left
    in the client namespace (the logins' background halves) is stopped
    before it returns, so call it when no other ssh runs there."""
    try:
        r = lab.client_run(["python3", "-c", HANDSHAKE_DRIVER, host, str(count),
                            str(at_once)], timeout=timeout)
    finally:
        left = lab.client_procs("ssh")
        for p in left:
            labmod.signal_pid(p, signal.SIGTERM)
        labmod.wait_for(lambda: not any(labmod.alive(p) for p in left), 10)
        lab.reap_orphans()
    if r.returncode != 0:
        raise RuntimeError(f"handshake driver failed: {r.stderr[-400:]}")
    got = json.loads(r.stdout.strip().splitlines()[-1])
    took = sorted(got["took"])
    return {"rate": got["ok"] / got["elapsed"] if got["elapsed"] > 0 else None,
            "ok": got["ok"], "failed": got["failed"], "elapsed": got["elapsed"],
            "median": took[len(took) // 2] if took else None}


def cpu_seconds(pid):
    """User + system CPU seconds pid has used (its own, not its children's),
    or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """(busy, total) CPU seconds of the whole machine since boot, all cores,
    from /proc/stat; busy is everything but idle and iowait."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / hz, sum(ticks) / hz
