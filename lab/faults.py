"""Faults: the switches a test flips to break the tunnel, for real.

Silent drops (nftables in the server namespace), link down/up on the
client's veth, a held remote port, connections the client's kernel
forgets.  Session faults (kill, SIGSTOP/SIGCONT) are on Sshd (sshd.py).
Faults is a mixin of Lab: it uses the lab's namespaces, addresses and
host_run(); tests call them as lab.blackhole(), lab.link_down(), ...
"""

import re

from .constants import IFNAME, NFT_ADDR_TABLE, NFT_TABLE, SSHD_PORT
from .netns import netns_listener
from .procs import run, wait_for


class PortHold:
    """Listening sockets that keep a port busy in the server namespace."""

    def __init__(self, port, socks):
        self.port = port
        self.socks = socks

    def release(self):
        for s in self.socks:
            s.close()
        self.socks = []


class Faults:
    """Fault switches of a Lab (mixed into Lab; see the module docstring)."""

    def blackhole(self):
        """Silently drop everything between client and server (nftables in the
        server namespace, both directions). No link event, no ICMP, no RST."""
        rules = [f"ip saddr {self.client_addr} drop"]
        out_rules = [f"ip daddr {self.client_addr} drop"]
        if self.ipv6:
            rules.append(f"ip6 saddr {self.client_addr6} drop")
            out_rules.append(f"ip6 daddr {self.client_addr6} drop")
        # add + delete + define replaces the table atomically, so calling
        # blackhole() twice does not stack duplicate rules.
        ruleset = "\n".join([
            f"add table inet {NFT_TABLE}",
            f"delete table inet {NFT_TABLE}",
            f"table inet {NFT_TABLE} {{",
            "  chain input {",
            "    type filter hook input priority filter - 10; policy accept;",
            *(f"    {r}" for r in rules),
            "  }",
            "  chain output {",
            "    type filter hook output priority filter - 10; policy accept;",
            *(f"    {r}" for r in out_rules),
            "  }",
            "}", ""])
        self.host_run(self.server_argv(["nft", "-f", "-"]), input=ruleset)
        self.blackholed = True

    def add_server_address(self, addr):
        """Give the server's veth one more address (IPv4 in the lab's /24 or
        IPv6 in its /64, e.g. "10.77.0.3"), reachable from the client until
        blackhole_address(); reset() removes it."""
        plen = 64 if ":" in addr else 24
        self.host_run(["ip", "-n", self.server_ns, "addr", "add", f"{addr}/{plen}",
                       "dev", IFNAME] + (["nodad"] if plen == 64 else []))
        self.extra_addrs.append(f"{addr}/{plen}")

    def remove_server_addresses(self, check=True):
        """Remove the addresses add_server_address() added, and lift every
        blackhole_address()."""
        for a in self.extra_addrs:
            self.host_run(["ip", "-n", self.server_ns, "addr", "del", a, "dev", IFNAME],
                          check=check, quiet=True)
        self.extra_addrs = []
        self.host_run(self.server_argv(["nft", "-f", "-"]), check=check, quiet=True,
                      input=f"add table inet {NFT_ADDR_TABLE}\n"
                            f"delete table inet {NFT_ADDR_TABLE}\n")

    def blackhole_address(self, *addrs):
        """Silently drop, in the server namespace, every packet to and from
        the given server addresses (IPv4 or IPv6; replaces the previous call's
        set): one address of a host that has several is dead, the rest
        answer. blackholed_packets() counts what was dropped."""
        rules = []
        for a in addrs:
            ip = "ip6" if ":" in a else "ip"
            rules += [f"    {ip} daddr {a} counter drop", f"    {ip} saddr {a} counter drop"]
        # Neighbour discovery still works, as on a path that is broken
        # further away: the SYNs leave and are counted.
        nd_ok = "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept"
        ruleset = "\n".join([
            f"add table inet {NFT_ADDR_TABLE}",
            f"delete table inet {NFT_ADDR_TABLE}",
            f"table inet {NFT_ADDR_TABLE} {{",
            "  chain input {",
            "    type filter hook input priority filter - 10; policy accept;",
            nd_ok,
            *[r for r in rules if "daddr" in r],
            "  }",
            "  chain output {",
            "    type filter hook output priority filter - 10; policy accept;",
            nd_ok,
            *[r for r in rules if "saddr" in r],
            "  }",
            "}", ""])
        self.host_run(self.server_argv(["nft", "-f", "-"]), input=ruleset)

    def blackholed_packets(self):
        """Packets blackhole_address() has dropped on their way in."""
        r = self.host_run(self.server_argv(["nft", "list", "chain", "inet",
                                            NFT_ADDR_TABLE, "input"]), quiet=True)
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", r.stdout))

    def lift(self):
        """Remove the blackhole (idempotent)."""
        self.remove_blackhole(check=True)

    def remove_blackhole(self, check, quiet=False):
        """Remove the blackhole; with check, a failing nft raises."""
        self.host_run(self.server_argv(["nft", "-f", "-"]), check=check, quiet=quiet,
                      input=f"add table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n")
        self.blackholed = False

    def link_down(self):
        """Take the client's veth down: a link event in the client namespace.
        Addresses stay (IPv6 too, see keep_addr_on_down); routes go."""
        self.host_run(["ip", "-n", self.client_ns, "link", "set", IFNAME, "down"])

    def link_up(self, timeout=5):
        """Bring the client's veth up and wait for carrier; the kernel restores
        the connected routes by itself."""
        self.host_run(["ip", "-n", self.client_ns, "link", "set", IFNAME, "up"])
        self.wait_link_up(timeout)

    def link_is_up(self):
        """True if the client's veth is up."""
        """True if the client's veth is up with carrier."""
        r = run(["ip", "-n", self.client_ns, "-o", "link", "show", IFNAME])
        return "state UP" in r.stdout

    def wait_link_up(self, timeout=5):
        """Wait for carrier on the client's veth; raise after timeout."""
        if not wait_for(self.link_is_up, timeout):
            raise RuntimeError(f"{IFNAME} in {self.client_ns} has no carrier")

    def hold_remote_port(self, port, addresses=("127.0.0.1", "::1")):
        """Listen on port in the server namespace so that sshd cannot bind a
        remote forward there. sshd binds a loopback -R on both 127.0.0.1 and
        ::1 and succeeds if either works, hence both by default.
        Returns a PortHold; release() frees the port."""
        socks = []
        try:
            for addr in addresses:
                # Still refuses sshd's bind: only one socket may listen.
                socks.append(netns_listener(self.server_ns, addr, port))
        except BaseException:
            for s in socks:
                s.close()
            raise
        hold = PortHold(port, socks)
        self.holds.append(hold)
        return hold

    def forget_client_connections(self):
        """Abort the client's TCP connections to sshd with `ss -K` (the kernel
        forgets them and sends a RST, which a blackhole swallows: the server
        then keeps a stale session). Returns how many sockets were killed."""
        dsts = [self.server_addr] + ([f"[{self.server_addr6}]"] if self.ipv6 else [])
        killed = 0
        for dst in dsts:
            r = self.host_run(self.client_argv(
                ["ss", "-K", "-t", "-n", "-H", "dst", dst, "dport", "=", f":{SSHD_PORT}"]))
            killed += len([ln for ln in r.stdout.splitlines() if ln.strip()])
        return killed
