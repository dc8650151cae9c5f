"""The bench's plan: every scenario in running order, with its stage and its bounds.

A Scenario names its function (scenarios.py), how often it repeats, which
stage runs it, and its bounds: the longest each of its figures is waited
for, quick and --full.  A Job gets them as Limits for the run's mode, and
the report names them in "not within N s".
"""

from .scenarios import (LINK_DOWN_S, MON_POLL, MON_PORT, QUICK_ALIVE,
                        REVERSE_PORT, SEED_ALIVE, SSHD_DOWN_LONG_S, SSHD_DOWN_S,
                        SSHD_OUTAGE_S, START_BOUND_S, sc_blackhole, sc_hung,
                        sc_idle, sc_link, sc_reverse, sc_sshd_down,
                        sc_sshd_restart, sc_start)
from .scenarios import sc_eyeballs, sc_failover
from .storm import sc_storm


class Limits:
    """A scenario's bounds for one run's mode, in seconds; None: no such bound.

    notice: a fault until the supervisor acts (and, for a hung ssh, until
    the tunnel answers again); back: a repair until the tunnel answers;
    start: a start until it answers; window: an idle measuring window.
    """

    def __init__(self, notice=None, back=None, start=None, window=None):
        self.notice, self.back = notice, back
        self.start, self.window = start, window


# Most repairs are waited for this long: (quick, --full).
BACK_S = (60, 120)


class Scenario:
    """One scenario of the plan and its bounds.

    Each bound is a (quick, --full) pair of seconds or None; limits(full)
    picks the run's.  stage: 1 runs one scenario at a time, ours and 1.4g
    side by side; 2 runs every long scenario at once; 3 (the storm) one
    program at a time.  full_only: only with --full (or --only).
    """

    def __init__(self, key, title, func, repeat=1, stage=1, full_only=False,
                 notice_s=None, back_s=BACK_S, start_s=None, window_s=None):
        self.key, self.title, self.func = key, title, func
        self.repeat, self.stage, self.full_only = repeat, stage, full_only
        self.notice_s, self.back_s = notice_s, back_s
        self.start_s, self.window_s = start_s, window_s

    def limits(self, full):
        """The bounds for a quick run, or a --full one when full."""
        def pick(pair):
            return None if pair is None else pair[1 if full else 0]
        return Limits(notice=pick(self.notice_s), back=pick(self.back_s),
                      start=pick(self.start_s), window=pick(self.window_s))


IDLE_WINDOW_S = (65, 600)
# The fleet on one bastion: tunnels in storm-100 (storm's are --storm, 20).
STORM_LARGE = 100

SCENARIOS = [
    Scenario("start", "start", sc_start, repeat=3, stage=1,
             start_s=(START_BOUND_S, START_BOUND_S)),
    Scenario("eyeballs", "start, first address blackholed (Happy Eyeballs)",
             sc_eyeballs, repeat=3, stage=1, start_s=(30, 60)),
    Scenario("failover", "primary blackholed, --fallback (1.4g: none)",
             sc_failover, repeat=3, stage=1, back_s=(60, 60)),
    Scenario("blackhole-short", "blackhole, -M 0, ServerAlive 2/3 (short)",
             lambda j: sc_blackhole(j, QUICK_ALIVE), repeat=3, stage=1,
             notice_s=(60, 60)),
    Scenario("link", f"link down {LINK_DOWN_S} s, then up (seed config)", sc_link,
             repeat=3, stage=1),
    Scenario("sshd-restart", f"sshd restart, back listening {SSHD_DOWN_S} s "
             "after the kill (sessions killed)",
             lambda j: sc_sshd_restart(j, SSHD_DOWN_S), repeat=3, stage=1),
    Scenario("sshd-restart-10", f"sshd restart, back listening {SSHD_DOWN_LONG_S} s "
             "after the kill (sessions killed)",
             lambda j: sc_sshd_restart(j, SSHD_DOWN_LONG_S), repeat=3, stage=1),
    Scenario("blackhole-seed", "blackhole, -M 0, seed ServerAlive 30/3",
             lambda j: sc_blackhole(j, SEED_ALIVE), stage=2, full_only=True,
             notice_s=(200, 200)),
    Scenario("blackhole-noalive", "blackhole, -M 0, no ServerAlive",
             lambda j: sc_blackhole(j, []), stage=2, notice_s=(60, 300)),
    Scenario("blackhole-monitor", f"blackhole, -M {MON_PORT}, AUTOSSH_POLL={MON_POLL}",
             lambda j: sc_blackhole(j, [], monitor=True), stage=2,
             notice_s=(60, 120)),
    Scenario("hung-monitor", f"hung ssh (SIGSTOP), -M {MON_PORT}, AUTOSSH_POLL={MON_POLL}",
             lambda j: sc_hung(j, True), stage=2, notice_s=(60, 120)),
    Scenario("hung-m0", "hung ssh (SIGSTOP), -M 0", lambda j: sc_hung(j, False), stage=2,
             notice_s=(30, 120)),
    Scenario("reverse", f"-R {REVERSE_PORT} back after a silent outage", sc_reverse,
             stage=2),
    Scenario("sshd-down", f"sshd down {SSHD_OUTAGE_S} s (sessions killed)",
             sc_sshd_down, stage=2),
    Scenario("idle-seed", "idle, seed config (ServerAlive 30/3)",
             lambda j: sc_idle(j, SEED_ALIVE), stage=2, window_s=IDLE_WINDOW_S),
    Scenario("idle-noalive", "idle, no ServerAlive (ours: defaults)",
             lambda j: sc_idle(j, []), stage=2, window_s=IDLE_WINDOW_S),
    Scenario("storm", "storm", lambda j: sc_storm(j, j.opts["storm"]), stage=3,
             start_s=(60, 120), back_s=(60, 180)),
    Scenario("storm-100", "storm", lambda j: sc_storm(j, STORM_LARGE,
                                                       logins=STORM_LARGE),
             stage=3, full_only=True, start_s=(90, 120), back_s=(120, 180)),
]
SCENARIO_KEYS = [s.key for s in SCENARIOS]
BY_KEY = {s.key: s for s in SCENARIOS}
