"""The seed's real guarantee end to end (DESIGN.md §The seed): an MQTT
subscriber with a persistent session (QoS 1, clean session off) talks to the
broker through the tunnel while a publisher on the server sends a numbered
sequence and the link is cut and restored several times.  Every message must
arrive; QoS 1 allows duplicates, which are counted and reported, not failed
on.

The subscriber is mosquitto_sub in the client namespace on
localhost:22883 with a fixed client id, `-c -q 1`.  mosquitto_sub 2.0
reconnects by itself after a lost connection (the broker log shows the
same client id coming back with c0, and the session resumed); should it
exit anyway (a version that gives up on a refused reconnect, while autossh
is between two ssh processes), the test starts it again with the same
client id, as a device's MQTT client would.  Its runs are reported.

The cuts are lab blackholes (silent drops, the cellular case).  autossh
runs with --deadline=5 so that a cut is noticed within seconds and the test
stays bounded; the default of 45 s would only stretch the timeline.  One
cut is shorter than the deadline: TCP rides it out and nothing restarts.
"""

import subprocess
import threading
import time

import pytest

import lab as labmod

TOPIC = "lab/sequence"
CLIENT_ID = "lab-sequence-sub"
RATE_HZ = 5
CUTS_S = [7, 2, 7]          # blackhole lengths; the 2 s one is survived
UP_BETWEEN_S = 5            # the tunnel is back and used between cuts
DEADLINE_S = 5


class Subscriber:
    """mosquitto_sub in the client namespace, restarted whenever it exits,
    always with the same client id and clean session off."""

    def __init__(self, lab):
        self.lab = lab
        self.lines = []
        self.runs = 0
        self.exits = []
        self.stop = threading.Event()
        self.proc = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            self.runs += 1
            self.proc = self.lab.client_popen(
                ["mosquitto_sub", "-h", "127.0.0.1", "-p",
                 str(labmod.TUNNEL_PORT), "-i", CLIENT_ID, "-c", "-q", "1",
                 "-t", TOPIC, "-k", "10"],
                quiet=True, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL)
            for raw in self.proc.stdout:
                self.lines.append(raw.decode(errors="replace").strip())
            self.proc.stdout.close()
            self.exits.append(self.proc.wait())
            self.stop.wait(0.5)

    def close(self):
        self.stop.set()
        p = self.proc
        if p is not None and p.poll() is None:
            self.lab.terminate(p)
        self.thread.join(10)


def subscribed(lab, sub):
    """True once the subscriber's session gets what the broker publishes:
    the sequence must not start before it exists."""
    def ready():
        lab.broker.publish(TOPIC, "ready")
        return labmod.wait_for(lambda: "ready" in sub.lines, 1)
    return labmod.wait_for(ready, 20)


class Sequence:
    """One publisher on the server for a whole test: QoS 1, one message per
    stdin line (-l), the numbers 1, 2, ... at RATE_HZ until stop()."""

    def __init__(self, lab, client_id):
        self.lab = lab
        self.sent = 0
        self.pub = lab.server_popen(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(labmod.MQTT_PORT),
             "-i", client_id, "-q", "1", "-t", TOPIC, "-l"],
            stdin=subprocess.PIPE)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.feed, daemon=True)
        self.thread.start()

    def feed(self):
        nxt = time.monotonic()
        while not self.done.is_set():
            self.sent += 1
            self.pub.stdin.write(f"{self.sent}\n".encode())
            self.pub.stdin.flush()
            nxt += 1 / RATE_HZ
            self.done.wait(max(0, nxt - time.monotonic()))

    def stop(self):
        """End the sequence; the publisher's exit status."""
        self.done.set()
        self.thread.join(10)
        self.pub.stdin.close()
        return self.pub.wait(30)

    def received(self, sub):
        """Wait (up to 60 s) for every number sent; (got, missing): the
        numbers the subscriber printed, duplicates included, and the ones
        it never did."""
        want = set(range(1, self.sent + 1))

        def numbers():
            return [int(x) for x in sub.lines if x.isdigit()]
        labmod.wait_for(lambda: want <= set(numbers()), 60, interval=0.2)
        got = numbers()
        return got, sorted(want - set(got))

    def close(self):
        if self.pub.poll() is None:
            self.lab.terminate(self.pub)


@pytest.mark.timeout(180)
def test_every_message_arrives_across_cuts(lab, autossh):
    prog = autossh(["-M0", f"--deadline={DEADLINE_S}", "-N", "Broker"],
                   env={"AUTOSSH_BACKOFF_MAX": "2"})
    assert lab.wait_tunnel(15) is not None, prog.log_text()
    broker_mark = labmod.file_size(lab.broker.log_path)
    sub = Subscriber(lab)
    seq = None
    try:
        assert subscribed(lab, sub), "subscriber never subscribed"
        seq = Sequence(lab, "lab-sequence-pub")
        starts = []
        try:
            time.sleep(UP_BETWEEN_S)
            for cut in CUTS_S:
                starts.append(prog.log_text().count("started ssh (pid"))
                lab.blackhole()
                time.sleep(cut)
                lab.lift()
                assert lab.wait_tunnel(30) is not None, prog.log_text()
                time.sleep(UP_BETWEEN_S)
        finally:
            pub_rc = seq.stop()
        assert pub_rc == 0, "the publisher failed"
        got, missing = seq.received(sub)
        sent = seq.sent
        duplicates = len(got) - len(set(got))
        restarts = prog.log_text().count("started ssh (pid") - 1
        print(f"\nmqtt: {sent} sent, {len(set(got))} received, "
              f"{duplicates} duplicates, {len(missing)} missing; ssh "
              f"restarts {restarts}; subscriber runs {sub.runs} "
              f"(exits {sub.exits})")
        assert not missing, f"{len(missing)} of {sent} lost: {missing[:50]}"
        assert set(got) <= set(range(1, sent + 1))
        # The long cuts broke the session (so the test tested something);
        # the short one did not.
        assert restarts >= 2, prog.log_text()
        assert prog.alive()
        # The subscriber's session really was resumed: it came back under
        # its id, clean session off (mosquitto logs "c0").
        connects = lab.broker.log_text(broker_mark).count(
            f"as {CLIENT_ID} (p2, c0,")
        assert connects >= 1 + 2, lab.broker.log_text(broker_mark)
    finally:
        sub.close()
        if seq is not None:
            seq.close()
        # Drop the persistent session (a clean-session connect does), so
        # nothing is queued for this id in later tests.
        lab.server_run(["mosquitto_sub", "-h", "127.0.0.1", "-p",
                        str(labmod.MQTT_PORT), "-i", CLIENT_ID, "-t", TOPIC,
                        "-E"], timeout=10)
