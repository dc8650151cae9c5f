"""A fake systemd for the tests: the socket NOTIFY_SOCKET names."""

import os
import socket
import threading
import time


class NotifySocket:
    """A datagram socket at path that records, in order, what a program
    tells systemd (READY=1, STATUS=..., WATCHDOG=1, STOPPING=1).  A stale
    socket file at path is replaced.  Use as a context manager, or close()."""

    def __init__(self, path):
        if os.path.exists(path):
            os.unlink(path)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []      # (monotonic time, text)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def texts(self):
        """Every message so far, oldest first."""
        return [m for _, m in self.messages]

    def statuses(self):
        """The STATUS= texts so far, without "STATUS=", oldest first."""
        return [m[len("STATUS="):] for m in self.texts()
                if m.startswith("STATUS=")]

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
