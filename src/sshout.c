/*
 * Classification of ssh's error output.  The tables below are facts
 * about OpenSSH's messages; the policy (what a cause means for a
 * restart) lives in supervise.c.  Permanent causes are checked first, so
 * "Received disconnect ...: Too many authentication failures" counts as
 * an authentication failure and not as a dropped connection.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sshout.h"

static const char *const permanent[] = {
	"Permission denied",
	"Host key verification failed",
	"REMOTE HOST IDENTIFICATION HAS CHANGED",
	"Name or service not known",
	"No address associated with hostname",
	"Bad configuration option",
	"bad configuration option",
	"Unsupported option",
	"Bad owner or permissions",
	"Bad port",
	"Bad local forwarding specification",
	"Bad remote forwarding specification",
	"Bad dynamic forwarding specification",
	"Bad stdio forwarding specification",
	"Bad forwarding specification",
	"Too many authentication failures",
	"No more authentication methods",
	"Unable to negotiate",
	"Can't open user config file",
	"Unknown host",
	NULL,
};

static const char *const transient[] = {
	"Connection refused",
	"Connection timed out",
	"Operation timed out",
	"Connection reset",
	"No route to host",
	"Network is unreachable",
	"Host is down",
	"Software caused connection abort",
	"Broken pipe",
	"Connection closed",
	"closed by remote host",
	"kex_exchange_identification",
	"banner exchange",
	"Timeout, server",
	"Temporary failure in name resolution",
	"remote port forwarding failed",
	"Could not request local forwarding",
	"cannot listen to port",
	"Address already in use",
	"proxy dialer did not pass back a connection",
	NULL,
};

/*
 * The milestones, each as the whole line OpenSSH prints (the CR of its
 * CR LF already gone).  A line must be one of these from its first byte
 * to its last: the server's version string is echoed inside ssh's own
 * "Remote protocol version" line and its banner is printed verbatim
 * before authentication, so a phrase found anywhere in a line proves
 * nothing.  In a pattern, "%d" stands for one or more digits and "%s"
 * for one or more bytes up to the pattern's next literal byte (to the
 * end of the line when it is last), so matching never backtracks.
 */
static const struct {
	const char	*pattern;
	enum ssh_mark	 mark;
} marks[] = {
	{ "Authenticated to %s ([%s]:%d) using \"%s\".", MARK_AUTHENTICATED },
	{ "debug1: Entering interactive session.", MARK_SESSION },
	/* OpenSSH 8.x, then 9.x. */
	{ "debug1: All remote forwarding requests processed", MARK_RFWD_DONE },
	{ "debug1: forwarding_success: all expected forwarding replies "
	    "received", MARK_RFWD_DONE },
	/* Without, then with ExitOnForwardFailure. */
	{ "Warning: remote port forwarding failed for listen port %d",
	    MARK_RFWD_FAILED },
	{ "Warning: remote port forwarding failed for listen path %s",
	    MARK_RFWD_FAILED },
	{ "Error: remote port forwarding failed for listen port %d",
	    MARK_RFWD_FAILED },
	{ "Error: remote port forwarding failed for listen path %s",
	    MARK_RFWD_FAILED },
	{ "Could not request local forwarding.", MARK_LFWD_FAILED },
};

/*
 * A forward's channel (DESIGN.md §Forward health), OpenSSH 8.x and 9.x:
 * the failure is an error-level line, without a "debug1: " prefix; the
 * free line names the forward by its listen port, whatever the outcome.
 */
static const char chan_failed[] = "channel %d: open failed: %s";
static const char chan_freed[] = "debug1: channel %d: free: direct-tcpip: "
    "listening port %d for %s port %d, connect from %s";

/* Does the whole of line match pattern (see the table above)? */
static int
whole_line(const char *line, const char *pattern)
{
	const char *p = pattern, *l = line;

	while (*p != '\0') {
		if (p[0] == '%' && p[1] == 'd') {
			if (*l < '0' || *l > '9')
				return 0;
			while (*l >= '0' && *l <= '9')
				l++;
			p += 2;
		} else if (p[0] == '%' && p[1] == 's') {
			char stop = p[2];

			if (*l == '\0' || *l == stop)
				return 0;
			while (*l != '\0' && *l != stop)
				l++;
			p += 2;
		} else if (*p++ != *l++)
			return 0;
	}
	return *l == '\0';
}

static int
matches(const char *line, const char *const *table)
{
	for (; *table != NULL; table++)
		if (strstr(line, *table) != NULL)
			return 1;
	return 0;
}

static int
is_debug(const char *line)
{
	return strncmp(line, "debug", 5) == 0 && line[5] >= '1' &&
	    line[5] <= '3' && line[6] == ':';
}

enum ssh_cause
sshout_cause(const char *line)
{
	if (is_debug(line))
		return CAUSE_NONE;
	if (matches(line, permanent))
		return CAUSE_PERMANENT;
	if (matches(line, transient))
		return CAUSE_TRANSIENT;
	return CAUSE_NONE;
}

/* Lines ssh prints at LogLevel VERBOSE that say nothing about failure. */
static const char *const chatter[] = {
	"Transferred: sent ",
	"Bytes per second: ",
	NULL,
};

int
sshout_level(const char *line)
{
	const char *const *c;

	if (is_debug(line))
		return LOG_LVL_DEBUG;
	for (c = chatter; *c != NULL; c++)
		if (strncmp(line, *c, strlen(*c)) == 0)
			return LOG_LVL_DEBUG;
	if (strncmp(line, "Warning:", 8) == 0)
		return LOG_LVL_WARNING;
	return LOG_LVL_INFO;
}

enum ssh_mark
sshout_mark(const char *line)
{
	size_t i;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (whole_line(line, marks[i].pattern))
			return marks[i].mark;
	return MARK_NONE;
}

enum ssh_chan
sshout_channel(const char *line, int *chan, int *port, char *why,
    size_t whylen)
{
	int n = 0;

	if (whole_line(line, chan_failed)) {
		if (sscanf(line, "channel %d: open failed: %n", chan, &n) != 1
		    || n == 0)
			return CHAN_NONE;
		snprintf(why, whylen, "%s", line + n);
		return CHAN_OPEN_FAILED;
	}
	if (whole_line(line, chan_freed)) {
		if (sscanf(line, "debug1: channel %d: free: direct-tcpip: "
		    "listening port %d ", chan, port) != 2)
			return CHAN_NONE;
		return CHAN_FREED;
	}
	return CHAN_NONE;
}

const char *
sshout_text(const char *line)
{
	if (is_debug(line)) {
		line += 7;
		while (*line == ' ')
			line++;
	}
	return line;
}

void
sshout_milestones_reset(struct milestones *m)
{
	m->session = m->rfwd_done = 0;
}

unsigned
sshout_milestones(struct milestones *m, unsigned seen, int remote_forwards)
{
	unsigned ms = 0;

	if (seen & (1u << MARK_AUTHENTICATED))
		ms |= MS_AUTHENTICATED;
	if (seen & (1u << MARK_SESSION))
		m->session = 1;
	if (seen & (1u << MARK_RFWD_DONE))
		m->rfwd_done = 1;
	if (seen & (1u << MARK_RFWD_FAILED))
		ms |= MS_RFWD_FAILED;
	if (m->session && (remote_forwards == 0 || m->rfwd_done))
		ms |= MS_UP;
	return ms;
}
