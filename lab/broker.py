"""The real mosquitto broker on the server namespace's loopback.

Owns mosquitto's config, log and life, and publishing from the server
side (not through the tunnel).  Probing through the tunnel is probes.py.
"""

import os
import re
import subprocess

from .constants import MQTT_PORT
from .procs import file_size, read_text, wait_for, write_file


class Broker:
    """The real mosquitto broker on the server namespace's 127.0.0.1:1883."""

    def __init__(self, lab):
        self.lab = lab
        self.dir = os.path.join(lab.workdir, "broker")
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "mosquitto.conf")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.out_path = os.path.join(self.dir, "mosquitto.out")
        self.proc = None
        write_file(self.config_path, "\n".join([
            "# Written by lab/broker.py",
            f"listener {MQTT_PORT} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            # Stay root: the default drop to user mosquitto could not write
            # the log in the lab's root-only work directory.
            "user root",
            f"log_dest file {self.log_path}",
            "log_type error", "log_type warning", "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]) + "\n")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10):
        """Start mosquitto in the foreground and wait for "running" in its log
        (printed once every listener is open)."""
        if self.running():
            return
        offset = file_size(self.log_path)
        out = open(self.out_path, "ab")
        try:
            self.proc = self.lab.server_popen(["mosquitto", "-c", self.config_path],
                                              stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}:\n"
                                   + read_text(self.out_path) + self.log_text(offset))
            return re.search(r"mosquitto version \S+ running", self.log_text(offset))

        if not wait_for(ready, timeout):
            raise RuntimeError("mosquitto not ready in time:\n" + self.log_text(offset))

    def stop(self):
        if self.proc is not None:
            self.lab.terminate(self.proc)
            self.proc = None

    def publish(self, topic, payload, retain=False):
        """Publish directly on the server side (not through the tunnel)."""
        argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(MQTT_PORT),
                "-t", topic, "-m", payload, "-q", "1"]
        if retain:
            argv.append("-r")
        return self.lab.server_run(argv, timeout=10)

    def log_text(self, offset=0):
        return read_text(self.log_path, offset)
