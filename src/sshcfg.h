/*
 * ssh's effective configuration, as `ssh -G` prints it: one exec at
 * start-up and a pure parser.  autossh reads it to decide how to watch
 * the connection (DESIGN.md §Liveness) and never overrides what the user
 * set.
 */
#ifndef AUTOSSH_SSHCFG_H
#define AUTOSSH_SSHCFG_H

#include <stddef.h>

/* LocalForward and RemoteForward values kept, each (fwdcheck.h). */
#define SSHCFG_FWD_MAX	8

struct sshcfg {
	char	hostname[256];
	char	user[128];		/* "" when ssh -G printed none */
	int	port;
	int	family;			/* AF_UNSPEC, AF_INET or AF_INET6 */
	int	connect_timeout_s;	/* 0: none */
	int	alive_interval_s;	/* ServerAliveInterval; 0: off */
	int	alive_count_max;
	int	batchmode;
	int	has_proxycommand;	/* ProxyCommand other than "none" */
	int	has_proxyjump;
	int	exit_on_forward_failure;
	int	local_forwards;
	/*
	 * The first SSHCFG_FWD_MAX LocalForward values, as printed; "" for
	 * one too long to keep whole.
	 */
	char	local_forward[SSHCFG_FWD_MAX][160];
	int	remote_forwards;
	/*
	 * The first SSHCFG_FWD_MAX RemoteForward values, as printed
	 * ("2222 [localhost]:22"); "" for one too long to keep whole.
	 */
	char	remote_forward[SSHCFG_FWD_MAX][160];
	int	dynamic_forwards;
	int	session_none;		/* SessionType none */
	char	loglevel[16];		/* as printed, upper case */
	char	bind_address[64];	/* "" unless set */
	char	bind_interface[32];	/* "" unless set */
};

/*
 * Parse `ssh -G` output (NUL-terminated).  Unknown keys are ignored;
 * missing keys keep ssh's defaults.  Returns 0, or -1 with a message in
 * errbuf when a value the liveness layer relies on does not parse or the
 * host name holds characters no host name has.
 */
int	sshcfg_parse(const char *text, struct sshcfg *c, char *errbuf,
	    size_t errlen);

/*
 * Run `ssh -G` with argv[1 .. argc-1] (the options and the destination,
 * without a remote command) and parse its output into c.  Blocks for at
 * most 10 s.  Returns 0; or -1 with ssh's own error line (or ours) in
 * errbuf when ssh rejects the configuration or cannot run.
 */
int	sshcfg_load(const char *ssh_path, char *const argv[], int argc,
	    struct sshcfg *c, char *errbuf, size_t errlen);

#endif
