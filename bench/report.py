"""The bench's report: the table of medians and ratios, and the scenarios' details, in Markdown.

render() turns the workers' results into the text that goes to stdout and
to bench/results/latest.md; nothing here runs or measures anything.
"""

from .measure import median_of
from .runner import OLD, OURS
from .plan import BY_KEY, SCENARIOS
from .scenarios import REVERSE_STARTS_WINDOW_S

# The storm scenarios: their rows are alike, titled by their tunnel count.
STORM_KEYS = ("storm", "storm-100")

# Figures some runs of a scenario do not measure (the handshake rate, in
# the storm of 20): no row when neither program has them.
OPTIONAL_FIGS = ("hs_rate", "hs_floor", "hs_near")

# The table, in order: (scenario key, figure label, figure key, kind, bound).
# kind: "s" seconds, "n" a count, "bytes" bytes a day, "kb", "rate" per hour
# (or per second, as labelled), "x" a quotient;
# a trailing "!" marks figures where lower is not simply better (no ratio).
# bound: which of the scenario's Limits the figure was waited for (named in
# "not within N s" and the ratio), or None.
ROWS = [
    ("start", "start → MQTT answers, s", "up", "s", "start"),
    ("eyeballs", "start → answers, first address blackholed, s", "up", "s", "start"),
    ("failover", "primary dies silently → answers via the fallback, s", "failover",
     "s", "back"),
    ("blackhole-short", "noticed (ssh replaced), s", "noticed", "s", "notice"),
    ("blackhole-short", "lift → answers, s", "back", "s", "back"),
    ("blackhole-seed", "noticed (ssh replaced), s", "noticed", "s", "notice"),
    ("blackhole-seed", "lift → answers, s", "back", "s", "back"),
    ("blackhole-noalive", "noticed (ssh replaced), s", "noticed", "s", "notice"),
    ("blackhole-noalive", "lift → answers, s", "back", "s", "back"),
    ("blackhole-monitor", "noticed (ssh replaced), s", "noticed", "s", "notice"),
    ("blackhole-monitor", "lift → answers, s", "back", "s", "back"),
    ("hung-monitor", "noticed, s", "noticed", "s", "notice"),
    ("hung-monitor", "SIGSTOP → answers again, s", "back", "s", "notice"),
    ("hung-m0", "noticed, s", "noticed", "s", "notice"),
    ("hung-m0", "SIGSTOP → answers again, s", "back", "s", "notice"),
    ("link", "link up → answers, s", "back", "s", "back"),
    ("link", "link up → answers, client trying during the outage, s", "back_busy",
     "s", None),
    ("sshd-restart", "sshd listening → answers, s", "back", "s", "back"),
    ("sshd-restart", "SYNs to sshd while it was down", "syns", "n!", None),
    ("sshd-restart-10", "sshd listening → answers, s", "back", "s", "back"),
    ("sshd-restart-10", "SYNs to sshd while it was down", "syns", "n!", None),
    ("sshd-down", "SYNs to sshd in the first minute of the outage", "syns", "n!", None),
    ("sshd-down", "sshd listening → answers, s", "back", "s", "back"),
    ("reverse", "lift → server's port answers, s", "back", "s", "back"),
    ("reverse", f"ssh starts in {REVERSE_STARTS_WINDOW_S} s after the lift", "starts",
     "n!", None),
    ("idle-seed", "idle bytes a day (IP)", "bytes_day", "bytes", None),
    ("idle-noalive", "idle bytes a day (IP)", "bytes_day", "bytes", None),
    ("idle-seed", "footprint: supervisor RSS, KB", "rss_kb", "kb", None),
    ("idle-seed", "footprint: supervisor memory of its own (RssAnon), KB",
     "anon_kb", "kb", None),
    ("idle-seed", "footprint: supervisor open fds", "fds", "n", None),
    ("idle-seed", "footprint: supervisor wake-ups an hour", "wakeups_h", "rate", None),
] + [
    (key, label, fig, kind, which) for key in STORM_KEYS
    for label, fig, kind, which in (
        ("{n} started at once: all still running answer, s", "start_all", "s",
         "start"),
        ("{n} started at once: gave up", "start_gave_up", "n", "start"),
        ("{n} started at once: dropped by MaxStartups", "start_dropped", "n",
         "start"),
        ("sshd back → all still running answer, s", "all_back", "s", "back"),
        ("sshd back → median tunnel answers, s", "median_back", "s", "back"),
        ("reconnect arrivals at sshd, first → last, s", "spread", "s!", "back"),
        ("connections reaching sshd until then", "arrivals", "n!", "back"),
        ("sshd back: dropped by MaxStartups", "back_dropped", "n", "back"),
        ("gave up (supervisor exited), in all", "gave_up", "n", "back"),
        ("sshd's handshakes/s (plain ssh logins, 8 at once)", "hs_rate", "rate!",
         None),
        ("{n} ÷ handshakes/s: the least time for {n} logins, s", "hs_floor", "s!",
         None),
        ("sshd back → all answer ÷ that least time", "hs_near", "x!", None))
]


def fmt_value(v, kind, bound):
    if v is None:
        return f"not within {bound} s" if bound else "n/a"
    k = kind.rstrip("!")
    if k == "s":
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    if k == "bytes":
        if v == 0:
            return "0"
        return f"{v / 1000:.0f} KB"
    if k == "rate":
        return f"{v:.0f}"
    if k == "x":
        return f"{v:.2f}×"
    return f"{v:.0f}" if isinstance(v, (int, float)) else str(v)


def fmt_ratio(ours, old, kind, bound_o, bound_n):
    if kind.endswith("!"):
        return "—"
    if ours is None and old is None:
        return "—"
    if old is None:
        return f"> {bound_n / ours:.1f}×" if ours and ours > 0 else "ours better"
    if ours is None:
        return f"< {old / bound_o:.2f}× (ours worse)"
    if ours == 0 and old == 0:
        return "—"
    if ours == 0:
        return "ours: none"
    if old == 0:
        return "1.4g: none"
    return f"{old / ours:.1f}×"


def cell(res, fig, kind, bound):
    if res is None:
        return "not run", None, 0
    if res.get("error"):
        return "error", None, 0
    samples = res.get("figs", {}).get(fig)
    if not samples:
        return "n/a", None, 0
    med = median_of(samples)
    text = fmt_value(med, kind, bound)
    detail = res.get("figs", {}).get(fig + "_detail")
    if detail and len(samples) == 1 and detail[0]:
        text += f" ({detail[0]})"
    if len(samples) > 1:
        nums = [s for s in samples if s is not None]
        misses = len(samples) - len(nums)
        if nums and kind.rstrip("!") == "s":
            lo, hi = min(nums), max(nums)
            text += f" ({fmt_value(lo, kind, bound)}–{fmt_value(hi, kind, bound)}"
            text += f", {misses} not within)" if misses else ")"
    return text, med, len(samples)


def storm_tunnels(by, key):
    """The tunnel count a storm scenario ran with (from either program's
    result), or "?"."""
    for prog in (OURS, OLD):
        got = ((by.get((key, prog)) or {}).get("figs") or {}).get("tunnels")
        if got:
            return got[0]
    return "?"


def render(results, opts, meta):
    by = {(r["scenario"], r["program"]): r for r in results}
    ran = {r["scenario"] for r in results}
    lines = []
    lines.append("# autossh benchmark: ours vs Debian's autossh 1.4g")
    lines.append("")
    lines.append(f"- date: {meta['date']}")
    lines.append(f"- mode: {'full (--full)' if opts['full'] else 'quick'}; "
                 f"run took {meta['duration']:.0f} s")
    lines.append(f"- machine: {meta['machine']}")
    lines.append(f"- ours: `{meta['ours_version']}` ({opts['display'][OURS]}); "
                 f"1.4g: `{meta['old_version']}` ({opts['display'][OLD]}); "
                 f"{meta['ssh_version']}")
    if meta.get("syn_linear") is not None:
        lines.append(f"- net.ipv4.tcp_syn_linear_timeouts = {meta['syn_linear']}: "
                     "this kernel retries a SYN every second for the first "
                     f"{meta['syn_linear']} retries (older kernels, such as "
                     "Debian 12's 6.1, double the wait each time), which helps a "
                     "plain ssh that is connecting when the link comes back")
    lines.append("- median of the runs in the \"runs\" column (range in brackets); "
                 "\"not within N s\" = did not happen within the scenario's bound")
    lines.append("- ratio = 1.4g's figure ÷ ours (above 1: ours is better by that "
                 "factor; lower is better for every figure with a ratio)")
    lines.append("")
    lines.append("| scenario | figure | runs | ours | 1.4g | 1.4g ÷ ours |")
    lines.append("|---|---|---|---|---|---|")
    titles = {s.key: s.title for s in SCENARIOS}
    last = None
    for key, label, fig, kind, which in ROWS:
        if key not in ran:
            continue
        if fig in OPTIONAL_FIGS and not any(
                fig in ((by.get((key, p)) or {}).get("figs") or {})
                for p in (OURS, OLD)):
            continue
        n = storm_tunnels(by, key)
        if key in STORM_KEYS:
            title = f"storm: {n} tunnels, one sshd"
        else:
            title = titles[key]
        limits = BY_KEY[key].limits(opts["full"])
        bound = None if which is None else getattr(limits, which)
        ro, rn = by.get((key, OURS)), by.get((key, OLD))
        to, vo, cnt = cell(ro, fig, kind, bound)
        tn, vn, cnt2 = cell(rn, fig, kind, bound)
        ratio = fmt_ratio(vo, vn, kind, bound, bound) \
            if not (ro or {}).get("error") and not (rn or {}).get("error") else "—"
        if key == "idle-noalive" and vn == 0:
            tn = (tn[:-1] + "; never notices a dead link)" if tn.endswith(")")
                  else tn + " (never notices a dead link)")
            ratio = "— (1.4g sends nothing, never notices)"
        label = label.format(n=n)
        lines.append(f"| {title if title != last else ''} | {label} | "
                     f"{max(cnt, cnt2) or ''} | {to} | {tn} | {ratio} |")
        last = title
    lines.append("")
    lines.append("## Scenarios and command lines")
    lines.append("")
    lines.append(
        "Every supervisor runs in the lab's client namespace "
        "(`ip netns exec <client ns> unshare --mount ... sh -c 'mount --bind <lab home> "
        "/root && exec ...'`, so ssh reads the lab's ~/.ssh/config), with the lab's "
        "environment (PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, "
        "HOME=/root, LC_ALL=C), AUTOSSH_LOGFILE=<lab dir>/<name>.log and "
        f"AUTOSSH_LOGLEVEL={opts['loglevel']} (the default level); every other "
        "variable at its default, identical for both programs. The server is "
        "`/usr/sbin/sshd -D -e -f <lab sshd_config>` (LogLevel DEBUG3, defaults "
        "otherwise: no ClientAlive, MaxStartups 10:30:100) and mosquitto on the "
        "server's 127.0.0.1:1883.")
    lines.append("")
    for s in SCENARIOS:
        if s.key not in ran:
            continue
        ro, rn = by.get((s.key, OURS)), by.get((s.key, OLD))
        any_r = ro or rn
        lines.append(f"### {s.key}: " + (titles[s.key] if s.key not in STORM_KEYS
                                          else f"storm of {storm_tunnels(by, s.key)}"))
        lines.append("")
        if any_r.get("procedure"):
            lines.append(f"- procedure: {any_r['procedure']}")
        for c in any_r.get("config", []):
            lines.append(f"- ssh_config {c}")
        for prog, r in ((OURS, ro), (OLD, rn)):
            if r is None:
                continue
            cmds = r.get("commands", [])
            if s.key in STORM_KEYS and len(cmds) > 2:
                cmds = [cmds[0], "...", cmds[-1]]
            for c in cmds:
                lines.append(f"- {prog}: `{c}`" if c != "..." else f"- {prog}: ...")
            if r.get("error"):
                lines.append(f"- {prog}: ERROR {r['error']} (logs: {r.get('dir')})")
            for note in r.get("notes", []):
                lines.append(f"- note: {note}")
            lines.append(f"- {prog}: {r.get('seconds', 0):.0f} s of wall time")
        lines.append("")
    return "\n".join(lines) + "\n"
