"""Probes: is the tunnel carrying MQTT, end to end?

mqtt_roundtrip() publishes and subscribes through the tunnel with the
mosquitto clients; wait_tunnel() repeats it until the tunnel answers.
Probes is a mixin of Lab; tests call lab.mqtt_roundtrip(), lab.wait_tunnel().
Finer probes that time a CONNACK belong to the bench (bench/measure.py).
"""

import time
import uuid

from .constants import TUNNEL_PORT


class Probes:
    """The tunnel probes of a Lab (mixed into Lab; see the module docstring)."""

    def mqtt_roundtrip(self, port=TUNNEL_PORT, timeout=2.0):
        """True if an MQTT message crosses the tunnel to the broker and back.

        mosquitto_pub stores a retained message with a fresh topic and payload
        (QoS 1: the broker's PUBACK must come back through the tunnel), then
        mosquitto_sub, a separate connection, must receive exactly that payload
        from the broker. Both talk to the client namespace's 127.0.0.1:port
        only. A last publish clears the retained message. Bounded by timeout.
        """
        deadline = time.monotonic() + timeout
        token = uuid.uuid4().hex
        common = ["-h", "127.0.0.1", "-p", str(port), "-t", f"lab/probe/{token}"]
        pub = self._bounded(["mosquitto_pub", *common, "-q", "1", "-r", "-m", token],
                            deadline)
        if pub.returncode != 0:
            return False
        # -W takes whole seconds; the process timeout still holds the deadline.
        wait_s = max(1, int(deadline - time.monotonic() + 0.999))
        sub = self._bounded(["mosquitto_sub", *common, "-C", "1", "-W", str(wait_s)],
                            deadline)
        ok = sub.returncode == 0 and sub.stdout.strip() == token
        if ok:
            # mosquitto_sub --remove-retained would do this, but then -C 1 no
            # longer ends it early.
            self._bounded(["mosquitto_pub", *common, "-q", "1", "-r", "-n"],
                          time.monotonic() + 1)
        return ok

    def _bounded(self, argv, deadline):
        remaining = max(0.05, deadline - time.monotonic())
        return self.client_run(argv, timeout=remaining, quiet=True)

    def wait_tunnel(self, timeout=10.0, port=TUNNEL_PORT, probe_timeout=2.0,
                    interval=0.1):
        """Probe until the tunnel answers; seconds it took, or None on timeout."""
        start = time.monotonic()
        while True:
            left = start + timeout - time.monotonic()
            if left <= 0:
                return None
            if self.mqtt_roundtrip(port, timeout=min(probe_timeout, left)):
                return time.monotonic() - start
            time.sleep(interval)
