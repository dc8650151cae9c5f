/*
 * Unit tests for sshout.c: real OpenSSH 8.x/9.x error and debug lines,
 * and what each one says (cause, log level, milestone, logged text).
 * The lines were taken from ssh 9.2p1 runs, with host names changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "log.h"
#include "sshout.h"


#define PERM	CAUSE_PERMANENT
#define TRANS	CAUSE_TRANSIENT
#define NONE	CAUSE_NONE
#define INFO	LOG_LVL_INFO
#define WARN	LOG_LVL_WARNING
#define DEBUG	LOG_LVL_DEBUG

struct line_row {
	const char	*line;
	enum ssh_cause	 cause;
	int		 level;
	enum ssh_mark	 mark;
	const char	*text;		/* NULL: the line itself */
};

static const struct line_row rows[] = {
	/* authentication and host keys: permanent */
	{ "Permission denied (publickey).", PERM, INFO, MARK_NONE, NULL },
	{ "mqtt@broker.example.net: Permission denied "
	    "(publickey,password).", PERM, INFO, MARK_NONE, NULL },
	{ "Host key verification failed.", PERM, INFO, MARK_NONE, NULL },
	{ "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
	    PERM, INFO, MARK_NONE, NULL },
	{ "Received disconnect from 192.0.2.1 port 22:2: Too many "
	    "authentication failures", PERM, INFO, MARK_NONE, NULL },
	{ "Unable to negotiate with 192.0.2.1 port 22: no matching host key "
	    "type found. Their offer: ssh-rsa", PERM, INFO, MARK_NONE, NULL },
	/* names: unknown is permanent, a resolver hiccup is not */
	{ "ssh: Could not resolve hostname nosuch.invalid: Name or service "
	    "not known", PERM, INFO, MARK_NONE, NULL },
	{ "ssh: Could not resolve hostname broker: No address associated "
	    "with hostname", PERM, INFO, MARK_NONE, NULL },
	{ "ssh: Could not resolve hostname broker: Temporary failure in name "
	    "resolution", TRANS, INFO, MARK_NONE, NULL },
	/* configuration: permanent */
	{ "command-line: line 0: Bad configuration option: foo", PERM, INFO,
	    MARK_NONE, NULL },
	{ "/root/.ssh/config: line 3: Bad configuration option: hostnmae",
	    PERM, INFO, MARK_NONE, NULL },
	{ "command-line: terminating, 1 bad configuration options", PERM,
	    INFO, MARK_NONE, NULL },
	{ "Bad owner or permissions on /root/.ssh/config", PERM, INFO,
	    MARK_NONE, NULL },
	{ "Bad local forwarding specification 'x'", PERM, INFO, MARK_NONE,
	    NULL },
	/* the network: transient */
	{ "ssh: connect to host 127.0.0.1 port 1: Connection refused", TRANS,
	    INFO, MARK_NONE, NULL },
	{ "ssh: connect to host 192.0.2.1 port 22: Connection timed out",
	    TRANS, INFO, MARK_NONE, NULL },
	{ "ssh: connect to host 10.0.0.1 port 22: No route to host", TRANS,
	    INFO, MARK_NONE, NULL },
	{ "ssh: connect to host 10.0.0.1 port 22: Network is unreachable",
	    TRANS, INFO, MARK_NONE, NULL },
	{ "kex_exchange_identification: read: Connection reset by peer",
	    TRANS, INFO, MARK_NONE, NULL },
	{ "kex_exchange_identification: Connection closed by remote host",
	    TRANS, INFO, MARK_NONE, NULL },
	{ "Connection reset by 192.0.2.1 port 22", TRANS, INFO, MARK_NONE,
	    NULL },
	{ "Connection closed by 192.0.2.1 port 22", TRANS, INFO, MARK_NONE,
	    NULL },
	{ "Connection to broker.example.net closed by remote host.", TRANS,
	    INFO, MARK_NONE, NULL },
	{ "client_loop: send disconnect: Broken pipe", TRANS, INFO, MARK_NONE,
	    NULL },
	{ "banner exchange: Connection to 192.0.2.1 port 22: invalid format",
	    TRANS, INFO, MARK_NONE, NULL },
	{ "Timeout, server broker.example.net not responding.", TRANS, INFO,
	    MARK_NONE, NULL },
	{ "Connection timed out during banner exchange", TRANS, INFO,
	    MARK_NONE, NULL },
	{ "Connection to broker.example.net closed.", NONE, INFO, MARK_NONE,
	    NULL },
	/* forwards */
	{ "Warning: remote port forwarding failed for listen port 2222",
	    TRANS, WARN, MARK_RFWD_FAILED, NULL },
	{ "Error: remote port forwarding failed for listen port 2222", TRANS,
	    INFO, MARK_RFWD_FAILED, NULL },
	{ "bind [127.0.0.1]:22883: Address already in use", TRANS, INFO,
	    MARK_NONE, NULL },
	{ "channel_setup_fwd_listener_tcpip: cannot listen to port: 22883",
	    TRANS, INFO, MARK_NONE, NULL },
	{ "Could not request local forwarding.", TRANS, INFO,
	    MARK_LFWD_FAILED, NULL },
	/* milestones */
	{ "Authenticated to broker.example.net ([192.0.2.1]:22222) using "
	    "\"publickey\".", NONE, INFO, MARK_AUTHENTICATED, NULL },
	{ "debug1: Entering interactive session.", NONE, DEBUG, MARK_SESSION,
	    "Entering interactive session." },
	{ "debug1: All remote forwarding requests processed", NONE, DEBUG,
	    MARK_RFWD_DONE, "All remote forwarding requests processed" },
	/* OpenSSH 9.2's wording of the same milestone */
	{ "debug1: forwarding_success: all expected forwarding replies "
	    "received", NONE, DEBUG, MARK_RFWD_DONE,
	    "forwarding_success: all expected forwarding replies received" },
	/*
	 * A milestone is the whole line as ssh prints it.  The server's
	 * version string (its VersionAddendum) is echoed inside ssh's own
	 * line, and its banner is printed as it is, so a phrase inside
	 * another line marks nothing (the first two forms were seen from a
	 * real ssh -v against an sshd configured so).
	 */
	{ "debug1: Remote protocol version 2.0, remote software version "
	    "OpenSSH_9.2p1 Debian-2+deb12u10 Entering interactive session.",
	    NONE, DEBUG, MARK_NONE, "Remote protocol version 2.0, remote "
	    "software version OpenSSH_9.2p1 Debian-2+deb12u10 Entering "
	    "interactive session." },
	{ "debug1: compat_banner: match: OpenSSH_9.2p1 Entering interactive "
	    "session. pat OpenSSH* compat 0x04000000", NONE, DEBUG, MARK_NONE,
	    "compat_banner: match: OpenSSH_9.2p1 Entering interactive "
	    "session. pat OpenSSH* compat 0x04000000" },
	{ "Welcome. Entering interactive session is logged.", NONE, INFO,
	    MARK_NONE, NULL },
	{ "Entering interactive session.", NONE, INFO, MARK_NONE, NULL },
	{ "debug1: Entering interactive session. ", NONE, DEBUG, MARK_NONE,
	    "Entering interactive session. " },
	{ " debug1: Entering interactive session.", NONE, INFO, MARK_NONE,
	    NULL },
	{ "debug2: Entering interactive session.", NONE, DEBUG, MARK_NONE,
	    "Entering interactive session." },
	{ "Banner: Authenticated to h ([192.0.2.1]:22) using \"publickey\".",
	    NONE, INFO, MARK_NONE, NULL },
	{ "Authenticated to x", NONE, INFO, MARK_NONE, NULL },
	{ "Authenticated to h ([192.0.2.1]:) using \"publickey\".", NONE,
	    INFO, MARK_NONE, NULL },
	{ "Authenticated to h ([192.0.2.1]:22) using \"publickey\". ", NONE,
	    INFO, MARK_NONE, NULL },
	{ "note: all expected forwarding replies received", NONE, INFO,
	    MARK_NONE, NULL },
	{ "debug1: forwarding_success: all expected forwarding replies "
	    "received and more", NONE, DEBUG, MARK_NONE,
	    "forwarding_success: all expected forwarding replies received "
	    "and more" },
	{ "Warning: remote port forwarding failed for listen port 22x", TRANS,
	    WARN, MARK_NONE, NULL },
	{ "Warning: remote port forwarding failed for listen path "
	    "/tmp/s.sock", TRANS, WARN, MARK_RFWD_FAILED, NULL },
	{ "Error: remote port forwarding failed for listen path /tmp/s.sock",
	    TRANS, INFO, MARK_RFWD_FAILED, NULL },
	{ "Could not request local forwarding. Really.", TRANS, INFO,
	    MARK_NONE, NULL },
	/* debug lines never give a cause, whatever they say */
	{ "debug1: connect to address 127.0.0.1 port 1: Connection refused",
	    NONE, DEBUG, MARK_NONE,
	    "connect to address 127.0.0.1 port 1: Connection refused" },
	{ "debug1: Connecting to broker [192.0.2.1] port 22.", NONE, DEBUG,
	    MARK_NONE, "Connecting to broker [192.0.2.1] port 22." },
	{ "debug2: channel 0: new [client-session]", NONE, DEBUG, MARK_NONE,
	    "channel 0: new [client-session]" },
	{ "debug3:   padded", NONE, DEBUG, MARK_NONE, "padded" },
	{ "debug1:", NONE, DEBUG, MARK_NONE, "" },
	/* noise */
	{ "Pseudo-terminal will not be allocated because stdin is not a "
	    "terminal.", NONE, INFO, MARK_NONE, NULL },
	{ "Warning: Permanently added 'broker' (ED25519) to the list of known "
	    "hosts.", NONE, WARN, MARK_NONE, NULL },
	{ "", NONE, INFO, MARK_NONE, NULL },
	{ "debug", NONE, INFO, MARK_NONE, NULL },
	{ "debug9: not a level", NONE, INFO, MARK_NONE, NULL },
};

static void
test_line(void **state)
{
	const struct line_row *r = *state;
	const char *t;

	assert_int_equal(sshout_cause(r->line), r->cause);
	assert_int_equal(sshout_level(r->line), r->level);
	assert_int_equal(sshout_mark(r->line), r->mark);
	t = sshout_text(r->line);
	if (r->text == NULL) {
		assert_ptr_equal(t, r->line);
	} else {
		assert_string_equal(t, r->text);
		/* A pointer into the line, not a copy. */
		assert_true(t >= r->line && t <= r->line + strlen(r->line));
	}
}

/* Milestones add up to "up" (DESIGN.md §Forwards). */
#define BIT(m)	(1u << (m))

struct ms_row {
	const char	*name;
	int		 rfwd;		/* remote forwards asked for */
	unsigned	 reads[3];	/* marks of successive reads */
	unsigned	 want[3];	/* MS_* of each */
};

static const struct ms_row ms_rows[] = {
	{ "no -R: up at the session", 0,
	    { BIT(MARK_AUTHENTICATED), BIT(MARK_SESSION), 0 },
	    { MS_AUTHENTICATED, MS_UP, MS_UP } },
	{ "-R: up once answered", 2,
	    { BIT(MARK_AUTHENTICATED) | BIT(MARK_SESSION), 0,
	    BIT(MARK_RFWD_DONE) },
	    { MS_AUTHENTICATED, 0, MS_UP } },
	{ "-R answered before the session line", 1,
	    { BIT(MARK_RFWD_DONE), BIT(MARK_SESSION), 0 },
	    { 0, MS_UP, MS_UP } },
	{ "-R refused", 1,
	    { BIT(MARK_SESSION), BIT(MARK_RFWD_FAILED), 0 },
	    { 0, MS_RFWD_FAILED, 0 } },
	{ "nothing", 0, { 0, BIT(MARK_LFWD_FAILED), 0 }, { 0, 0, 0 } },
};

static void
test_milestones(void **state)
{
	const struct ms_row *r = *state;
	struct milestones m = { .markers = 1, .session = 1, .rfwd_done = 1 };
	size_t i;

	/* A new ssh starts from nothing. */
	sshout_milestones_reset(&m);
	assert_int_equal(m.markers, 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(sshout_milestones(&m, r->reads[i], r->rfwd),
		    r->want[i]);
}

int
main(void)
{
	static char names[sizeof(rows) / sizeof(rows[0])][72];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(names[i], sizeof(names[i]), "\"%.64s\"", rows[i].line);
		add_test(names[i], test_line, (void *)&rows[i]);
	}
	for (i = 0; i < NROWS(ms_rows); i++)
		add_test(pool_name("milestones: %s", ms_rows[i].name),
		    test_milestones, (void *)&ms_rows[i]);
	return unit_run("test_sshout", NULL,
	    NULL);
}
