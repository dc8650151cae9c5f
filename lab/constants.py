"""The lab's fixed names and numbers: the seed's ports, addresses, tools.

Everything here is a plain constant that tests, demo and bench may read
(`lab.SSHD_PORT`, `lab.TUNNEL_PORT`, ...); nothing here does anything.
"""

import os

# Lab number i uses NET_PREFIX.i.0/24 and NET6_PREFIX:0:0:i::/64; the client is
# host 1, the server host 2.  Each lab has its own namespaces, so two labs never
# clash; the index only keeps addresses distinct in logs and captures.
NET_PREFIX = "10.77"
NET6_PREFIX = "fd77"
SSHD_PORT = 22222
MQTT_PORT = 1883
TUNNEL_PORT = 22883  # the seed's LocalForward 22883 localhost:1883
IFNAME = "veth0"     # the veth end is called this in both namespaces
NS_PREFIX = "ash"    # namespaces are ash<pid>-<n>c and ash<pid>-<n>s
SSHD = "/usr/sbin/sshd"  # sshd refuses to run unless started by absolute path
KEY_NAME = "id_ed25519_lab"
NFT_TABLE = "ashlab_blackhole"
NFT_ADDR_TABLE = "ashlab_addrs"  # blackhole_address(): some addresses only
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLIENT_HOME = "/root"  # where client commands see the lab's home directory
# The source tree this package is part of (lab/constants.py).
TREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
