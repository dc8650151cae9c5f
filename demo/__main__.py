"""`make demo`: the seed's MQTT tunnel survives a silently dead link, for real.

Builds the lab (the lab package, lab/): a client and a server network
namespace joined by a veth pair, a real sshd and a real mosquitto broker on the
server side. Runs the seed's command, `autossh -M0 -f -N Broker`, with the
seed's ~/.ssh/config, shows MQTT traffic through the tunnel, cuts the link
silently (nftables drops, no link event), restores it, and prints a timeline.
Everything is removed again on exit, including after Ctrl-C.

Needs root. Works with any autossh (Debian's 1.4g too): autossh's reaction is
read from the outside, as its ssh child exiting or being replaced.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import lab as labmod

# The seed's ServerAlive settings, and the quick variant.
FULL_ALIVE = (30, 3)
QUICK_ALIVE = (2, 3)
# How long the link stays cut once autossh has noticed: the new ssh is then
# retrying its connection into the dead link, as in a real outage, and the
# last timeline step shows how soon a connecting ssh uses the restored link
# (it depends on the kernel's SYN retransmission schedule).
KEEP_CUT_S = 5


def say(text=""):
    print(text, flush=True)


def show_command(line):
    say(f"    {line}")


def pids(numbers):
    return ", ".join(map(str, sorted(numbers)))


class Timeline:
    """Events with seconds since the link was cut, printed as they happen."""

    def __init__(self):
        self.start = None
        self.events = []

    def mark(self, text):
        now = time.monotonic()
        if self.start is None:
            self.start = now
        self.events.append((now - self.start, text))
        say(f"  t={now - self.start:6.1f} s  {text}")

    def print(self):
        say("Timeline (seconds since the link was cut):")
        for t, text in self.events:
            say(f"  {t:6.1f}  {text}")


def stream_client(lab, argv, timeout):
    """Run argv in the client namespace and print its output lines as they come
    (argv starts with stdbuf -oL: into a pipe, stdio would buffer everything)."""
    p = lab.client_popen(argv, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    try:
        for line in p.stdout:
            say(f"      | {line.rstrip()}")
    finally:
        timer.cancel()
        p.wait()
    return p.returncode


def server_message_through_tunnel(lab, timeout=10):
    """Subscribe through the tunnel, publish on the server side, print arrival."""
    topic = "demo/hello"
    sub = lab.client_popen(["stdbuf", "-oL", "mosquitto_sub", "-d", "-v",
                            "-h", "127.0.0.1", "-p", str(labmod.TUNNEL_PORT),
                            "-t", topic, "-C", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, sub.kill)
    timer.start()
    got = None
    try:
        for line in sub.stdout:
            # -d prints the protocol exchange; once the SUBACK is in, the
            # subscription exists and a publish cannot be missed.
            if "received SUBACK" in line:
                lab.broker.publish(topic, f"hello from the server side, sent at "
                                   f"{time.strftime('%H:%M:%S')}")
            elif line.startswith(topic + " "):
                got = line.rstrip()
                say(f"      | {got}")
    finally:
        timer.cancel()
        sub.wait()
    return got


def run_demo(args, workdir):
    """The demo proper; True if autossh noticed, recovered and left nothing."""
    alive_interval, alive_count = QUICK_ALIVE if args.quick else FULL_ALIVE
    say("Building the lab (network namespaces, sshd, mosquitto); commands:")
    with labmod.Lab(workdir, trace=show_command) as lab:
        say()
        say(f"client namespace {lab.client_ns} ({lab.client_addr}), "
            f"server namespace {lab.server_ns} ({lab.server_addr})")
        say(f"server: sshd on {lab.server_addr}:{labmod.SSHD_PORT}, "
            f"mosquitto on 127.0.0.1:{labmod.MQTT_PORT} (server loopback only)")
        say("[client] commands run in the client namespace with the lab's home "
            "bind-mounted over /root:")
        say("    " + shlex.join(lab.client_argv([])) + " <command...>")
        say()

        lab.write_ssh_config(extra=[f"ServerAliveInterval {alive_interval}",
                                    f"ServerAliveCountMax {alive_count}"])
        say("The seed's ~/.ssh/config (known_hosts pinned to the lab's sshd):")
        with open(lab.ssh_config_path) as f:
            for line in f:
                say(f"    {line.rstrip()}")
        say()

        say("Starting the seed's tunnel:")
        prog = lab.start_autossh(args.autossh, ["-M0", "-f", "-N", "Broker"],
                                 env={"AUTOSSH_LOGLEVEL": "6"})
        say(f"    (with AUTOSSH_LOGFILE={prog.log_path})")
        if prog.daemon_pid is None:
            say(f"autossh did not stay in the background (exit status "
                f"{prog.foreground_status}):\n{prog.output()}")
            return False
        up = lab.wait_tunnel(20)
        if up is None:
            say("the tunnel did not come up; ssh output:\n" + prog.output())
            return False
        ssh_pids = prog.ssh_pids()
        say(f"autossh pid {prog.daemon_pid}, ssh pid {pids(ssh_pids)}; tunnel "
            f"answering after {up:.1f} s (MQTT round trip through "
            f"localhost:{labmod.TUNNEL_PORT})")
        say()

        say("Live MQTT through the tunnel ($SYS topics of the broker, 5 messages):")
        stream_client(lab, ["stdbuf", "-oL", "mosquitto_sub", "-v", "-h", "127.0.0.1",
                            "-p", str(labmod.TUNNEL_PORT), "-t", "$SYS/#", "-C", "5"],
                      15)
        say("A message published on the server side, arriving through the tunnel:")
        server_message_through_tunnel(lab)
        say()

        limit = (alive_count + 1) * alive_interval + 30
        say(f"Cutting the link silently: nftables in the server namespace drops "
            f"everything from and to {lab.client_addr} (no RST, no ICMP, no link "
            f"event). With ServerAliveInterval {alive_interval} and "
            f"ServerAliveCountMax {alive_count}, ssh itself gives up after about "
            f"{(alive_count + 1) * alive_interval} s (all that autossh 1.4 "
            f"relies on with -M0).")
        timeline = Timeline()
        lab.blackhole()
        timeline.mark("link cut")
        threading.Thread(target=lambda: timeline.mark(
            "MQTT probe during the outage: "
            + ("answered?!" if lab.mqtt_roundtrip(timeout=2) else "no answer")),
            daemon=True).start()

        first = set(ssh_pids)
        noticed = labmod.wait_for(lambda: set(prog.ssh_pids()) != first
                                  or not prog.alive(), limit, interval=0.1)
        if noticed and not prog.alive():
            timeline.mark(f"autossh exited (status {prog.wait(5)})")
        elif noticed:
            new = pids(set(prog.ssh_pids()) - first) or "none yet"
            timeline.mark(f"autossh noticed: ssh pid {pids(first)} is gone, "
                          f"new ssh pid {new}")
            time.sleep(KEEP_CUT_S)
        else:
            timeline.mark(f"autossh did not notice within {limit} s")
        lab.lift()
        timeline.mark("link restored")
        back = lab.wait_tunnel(180)
        if back is not None:
            timeline.mark(f"tunnel answering again (MQTT round trip), "
                          f"ssh pid {pids(prog.ssh_pids())}")
        else:
            timeline.mark("tunnel did not answer within 180 s of the restore")
        say()
        timeline.print()
        say()
        log = prog.log_text().splitlines()
        if log:
            say(f"autossh's own log (last {min(len(log), 8)} lines):")
            for line in log[-8:]:
                say(f"    {line}")
            say()

        say("Stopping autossh (SIGTERM) and removing the lab.")
        status = prog.stop()
        say(f"autossh exited with status {status}")
        report = lab.close()
        for problem in report:
            say(f"left behind: {problem}")
        return bool(noticed) and back is not None and not report


def main():
    parser = argparse.ArgumentParser(prog="python3 -m demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--autossh", default="./autossh",
                        help="the autossh to run (default: ./autossh)")
    # The seed's settings are the default: with 1.4g the whole demo takes about
    # two minutes, which the seed's own 120 s detection time accounts for.
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--full", dest="quick", action="store_false", default=False,
                       help=f"the seed's ServerAliveInterval {FULL_ALIVE[0]}, CountMax "
                       f"{FULL_ALIVE[1]} (default; about 2 minutes with autossh 1.4g)")
    speed.add_argument("--quick", dest="quick", action="store_true",
                       help=f"ServerAliveInterval {QUICK_ALIVE[0]}, CountMax "
                       f"{QUICK_ALIVE[1]}: about 15 seconds")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory with all logs")
    args = parser.parse_args()

    if os.geteuid() != 0:
        sys.exit("make demo needs root to create network namespaces "
                 "(try: sudo make demo)")
    args.autossh = os.path.abspath(args.autossh)
    if not os.access(args.autossh, os.X_OK):
        sys.exit(f"demo: {args.autossh} is not an executable file "
                 "(build it first: make)")
    workdir = tempfile.mkdtemp(prefix="autossh-demo-")
    status = 1
    try:
        status = 0 if run_demo(args, workdir) else 1
    except KeyboardInterrupt:
        say("\ninterrupted: the lab has been removed")
        status = 130
    finally:
        if args.keep or status != 0:
            say(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
