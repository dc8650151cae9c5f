"""What autossh takes from its surroundings, on the real binary: ssh's
output with NUL bytes in it, a pidfile or log file another user prepared,
descriptors the caller left open, and an `ssh -G` that must not outlive a
killed autossh.

Tests that need a second user run its part as `nobody` through runuser,
in a sticky world-writable directory made under /tmp (the pytest tmp_path
is private to root, so nobody could not reach it).
"""
import os
import select
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from conftest import FAKESSH, _autossh_bin, alive, wait_for

RUNNING = ["forever 0"]


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to act as a second user")


def stand_in(tmp, body):
    """An ssh stand-in script: `ssh -G` goes to fakessh, anything else runs
    body (sh) first and then becomes fakessh."""
    path = tmp / "ssh-stand-in"
    path.write_text(f"""#!/bin/sh
for a in "$@"; do
	if [ "$a" = -G ]; then
		exec {FAKESSH} "$@"
	fi
done
{body}
exec {FAKESSH} "$@"
""")
    path.chmod(0o755)
    return path


@pytest.fixture
def sticky_dir():
    d = tempfile.mkdtemp(prefix="autossh-sticky.", dir="/tmp")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(script):
    subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c", script],
                   check=True, timeout=10)


# --- ssh's output -------------------------------------------------------------

def test_nul_byte_in_ssh_output_hides_nothing(run):
    # A NUL used to end the buffer as a C string: the session line after
    # it was never read, so the tunnel was never up.
    ssh = stand_in(run.tmp, r"printf 'noise\000hidden\r\n"
                   r"debug1: Entering interactive session.\r\n' >&2")
    run.start(["-M0", "-N", "Broker"], RUNNING, AUTOSSH_PATH=ssh)
    assert run.wait_log("tunnel up after", timeout=10), run.log()
    assert "ssh: noise\\x00hidden" in run.log()
