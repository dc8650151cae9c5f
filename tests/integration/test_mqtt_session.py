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


@pytest.mark.timeout(180)
def test_every_message_arrives_across_cuts(lab, autossh):
    prog = autossh(["-M0", f"--deadline={DEADLINE_S}", "-N", "Broker"],
                   env={"AUTOSSH_BACKOFF_MAX": "2"})
    assert lab.wait_tunnel(15) is not None, prog.log_text()
    broker_mark = labmod.file_size(lab.broker.log_path)
    sub = Subscriber(lab)
    pub = None
    try:
        # The persistent session must exist before the sequence starts.
        def subscribed():
            lab.broker.publish(TOPIC, "ready")
            return labmod.wait_for(lambda: "ready" in sub.lines, 1)
        assert labmod.wait_for(subscribed, 20), "subscriber never subscribed"

        # One publisher on the server for the whole run: QoS 1, one
        # message per stdin line (-l).
        pub = lab.server_popen(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(labmod.MQTT_PORT),
             "-i", "lab-sequence-pub", "-q", "1", "-t", TOPIC, "-l"],
            stdin=subprocess.PIPE)
        sent = 0
        feeding = threading.Event()

        def feed():
            nonlocal sent
            nxt = time.monotonic()
            while not feeding.is_set():
                sent += 1
                pub.stdin.write(f"{sent}\n".encode())
                pub.stdin.flush()
                nxt += 1 / RATE_HZ
                feeding.wait(max(0, nxt - time.monotonic()))

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
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
            feeding.set()
            feeder.join(10)
            pub.stdin.close()
        assert pub.wait(30) == 0, "the publisher failed"
        want = set(range(1, sent + 1))

        def received():
            return {int(x) for x in sub.lines if x.isdigit()}

        labmod.wait_for(lambda: want <= received(), 60, interval=0.2)
        got = [int(x) for x in sub.lines if x.isdigit()]
        missing = sorted(want - set(got))
        duplicates = len(got) - len(set(got))
        restarts = prog.log_text().count("started ssh (pid") - 1
        print(f"\nmqtt: {sent} sent, {len(set(got))} received, "
              f"{duplicates} duplicates, {len(missing)} missing; ssh "
              f"restarts {restarts}; subscriber runs {sub.runs} "
              f"(exits {sub.exits})")
        assert not missing, f"{len(missing)} of {sent} lost: {missing[:50]}"
        assert set(got) <= want
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
        if pub is not None and pub.poll() is None:
            lab.terminate(pub)
        # Drop the persistent session (a clean-session connect does), so
        # nothing is queued for this id in later tests.
        lab.server_run(["mosquitto_sub", "-h", "127.0.0.1", "-p",
                        str(labmod.MQTT_PORT), "-i", CLIENT_ID, "-t", TOPIC,
                        "-E"], timeout=10)
