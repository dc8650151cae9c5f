"""Text the server controls must not pass for ssh's own milestones.

Whether a session is up is read from ssh's LogLevel DEBUG1 output.  The
server's version string comes back inside ssh's line "debug1: Remote
protocol version 2.0, remote software version ...", before any host key
is checked, and its Banner is printed as it is, before authentication.
Here a real sshd says "Entering interactive session" in both places
while the login fails: the tunnel must never be reported up, and the
failure must be taken as the authentication failure it is.
"""

import os

import pytest

import lab as labmod

PHRASE = "Entering interactive session."


def login_fails(autossh):
    # A user the server does not have: "Permission denied (publickey)".
    prog = autossh(["-M0", "-N", "-l", "nosuchuser", "Broker"])
    assert prog.wait(20) == 1
    return prog.log_text()


@pytest.mark.timeout(60)
def test_version_addendum_does_not_mark_the_tunnel_up(lab, autossh):
    lab.sshd.write_config(extra=[f"VersionAddendum {PHRASE}"])
    lab.sshd.restart()
    log = login_fails(autossh)
    # The server's text did reach autossh, inside ssh's own line.
    assert "remote software version OpenSSH" in log
    assert f" {PHRASE}" in log
    assert "tunnel up" not in log
    assert "Permission denied" in log
    assert "first start failed within the gate time" in log


@pytest.mark.timeout(60)
def test_banner_does_not_mark_the_tunnel_up(lab, autossh):
    banner = os.path.join(lab.sshd.dir, "banner")
    with open(banner, "w") as f:
        f.write(f"Welcome. {PHRASE} is where this server logs you.\n"
                "Authenticated to you, by us.\n")
    lab.sshd.write_config(extra=[f"Banner {banner}"])
    lab.sshd.restart()
    log = login_fails(autossh)
    assert f"ssh: Welcome. {PHRASE}" in log
    assert "tunnel up" not in log
    assert "Permission denied" in log
    assert "first start failed within the gate time" in log


@pytest.mark.timeout(60)
def test_tunnel_is_up_through_a_server_that_says_so_early(lab, autossh):
    # The same server text with a login that works: up as usual, from
    # ssh's own line.
    lab.sshd.write_config(extra=[f"VersionAddendum {PHRASE}"])
    lab.sshd.restart()
    prog = autossh(["-M0", "-N", "Broker"])
    assert lab.wait_tunnel(15) is not None
    assert labmod.wait_for(lambda: "tunnel up after" in prog.log_text(), 10)


@pytest.mark.timeout(60)
def test_wait_is_not_fooled_by_the_version_string(lab, autossh):
    # -f --wait used to return 0 at the server's text, before the login
    # failed; with -f a failed login is retried, so --wait runs out.
    lab.sshd.write_config(extra=[f"VersionAddendum {PHRASE}"])
    lab.sshd.restart()
    prog = autossh(["-f", "--wait=4", "-M0", "-N", "-l", "nosuchuser",
                    "Broker"])
    assert prog.foreground_status != 0
    assert "Permission denied" in prog.output()
    assert "tunnel up" not in prog.log_text()
