"""The lab: a real network for autossh, shared by the tests, `make demo` and `make bench`.

Two network namespaces joined by a veth pair build the seed setup
(DESIGN.md §The seed): the client namespace runs `autossh -M0 -f -N Broker`
with the seed's ~/.ssh/config, the server namespace runs sshd on port 22222
and mosquitto on its loopback.  Faults are real: nftables drops (silent),
link down/up, killed or stopped sshd sessions, a held remote port,
connections forgotten by the client's kernel.  Python standard library only;
needs root, iproute2, nftables, OpenSSH and mosquitto.

Import it as a package from the repository root, where pytest, `make demo`
(`python3 -m demo`) and `make bench` (`python3 -m bench`) run:

    import lab as labmod        # tests name the fixture `lab`
    with labmod.Lab(workdir) as lab:
        prog = lab.start_autossh("./autossh", ["-M0", "-f", "-N", "Broker"])
        lab.wait_tunnel(20)
        lab.blackhole()

The public interface is what this module exports; the modules behind it:

- constants.py: ports, addresses, names (SSHD_PORT, TUNNEL_PORT, ...).
- procs.py: /proc inspection, signals, wait_for(), run(), small files.
- netns.py: namespaces, enter_netns(), netns_socket(), netns_listener(),
  SocketMaker, sweep_stale_labs().
- sshd.py, broker.py: the servers (lab.sshd, lab.broker).
- faults.py: the fault switches, as Lab methods (lab.blackhole(), ...; for
  a host with several addresses: lab.add_server_address(),
  lab.blackhole_address(), with lab.set_hosts() naming them).
- probes.py: the tunnel probes, as Lab methods (lab.mqtt_roundtrip(), ...).
- autossh.py: AutosshProcess, the handle on a started supervisor.
- notify.py: NotifySocket, a fake systemd recording what it is told.
- core.py: Lab, which composes them.

Two facts about the machine shape the lab:
- Client commands run with a directory of the lab bind-mounted over /root in a
  private mount namespace, because OpenSSH reads ~/.ssh/config from the passwd
  home directory (not $HOME); the real /root/.ssh is never touched.  A source
  tree that lives under /root (a clone in root's home) is mounted at the same
  path inside the lab's /root, so its binaries keep their absolute paths.
- The lab process makes itself a child subreaper, so that daemonized programs
  (`autossh -f`) and orphaned sshd sessions stay its descendants: it reaps
  them at once and keeps their exit status (this VM's pid 1 reaps orphans only
  every second or two, which would make zombie checks flaky).
"""

from .autossh import AutosshProcess, exe_of, forks_to_background
from .broker import Broker
from .constants import (CLIENT_HOME, IFNAME, KEY_NAME, MQTT_PORT, NET6_PREFIX,
                        NET_PREFIX, NFT_ADDR_TABLE, NFT_TABLE, NS_PREFIX, SSHD,
                        SSHD_PORT, SYSTEM_PATH, TREE, TUNNEL_PORT)
from .core import ECHO_SERVER, Lab
from .faults import PortHold
from .notify import NotifySocket
from .netns import (SocketMaker, enter_netns, netns_inode, netns_listener,
                    netns_pids, netns_socket, sweep_stale_labs)
from .procs import (alive, all_pids, children, cmdline, cont_pid, file_size,
                    open_fds, proc_stat, read_text, run, shared_fds, signal_pid,
                    stop_pid, stray_fds, wait_for, write_file, zombie_children,
                    zombies)
from .sshd import Sshd

__all__ = [
    "AutosshProcess", "Broker", "CLIENT_HOME", "ECHO_SERVER", "IFNAME",
    "KEY_NAME", "Lab", "MQTT_PORT", "NET6_PREFIX", "NET_PREFIX", "NFT_ADDR_TABLE", "NFT_TABLE",
    "NS_PREFIX", "NotifySocket", "PortHold", "SSHD", "SSHD_PORT", "SYSTEM_PATH", "Sshd",
    "SocketMaker", "TREE", "TUNNEL_PORT", "alive", "all_pids", "children",
    "cmdline", "cont_pid", "enter_netns", "exe_of", "file_size", "forks_to_background",
    "netns_inode", "netns_listener", "netns_pids", "netns_socket", "open_fds",
    "proc_stat", "read_text", "run", "shared_fds", "signal_pid", "stop_pid",
    "stray_fds", "sweep_stale_labs", "wait_for", "write_file",
    "zombie_children", "zombies",
]
