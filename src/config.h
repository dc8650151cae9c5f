/*
 * The configuration: autossh's command line and AUTOSSH_* environment
 * turned into one validated struct, and the argument vector for ssh.
 * Parsing is pure (no system calls); errors are reported in an errbuf.
 */
#ifndef AUTOSSH_CONFIG_H
#define AUTOSSH_CONFIG_H

#include <stddef.h>

enum run_mode {
	MODE_RUN,		/* supervise ssh */
	MODE_HELP,		/* --help */
	MODE_VERSION,		/* -V, --version */
	MODE_STATUS,		/* --status [name|pidfile] */
	MODE_FDPASS,		/* internal: the ProxyCommand helper */
};

/* Defaults, in seconds unless the name says otherwise. */
#define DEF_POLL_S		600
#define DEF_GATE_S		30
#define DEF_DEADLINE_S		45
#define DEF_BACKOFF_MAX_S	60
#define DEF_WAIT_S		60
#define DEF_LOGLEVEL		6
#define MIN_DEADLINE_S		5
#define MAX_MESSAGE		64
#define MAX_NAME		64
#define MAX_FALLBACKS		8

struct config {
	enum run_mode	  mode;

	/* ssh: argv[0] is "ssh"; the vector is NULL-terminated. */
	char		**ssh_argv;
	int		  ssh_argc;
	int		  ssh_cap;
	int		  dest_index;	/* index of the destination */
	int		  has_command;	/* arguments follow the destination */
	int		  no_session;	/* -N, -W or -o SessionType=none */
	int		  ssh_quiet;	/* -q, -y, -E or a LogLevel below DEBUG1:
					   ssh will not report its milestones */
	const char	 *ssh_path_env;	/* AUTOSSH_PATH, or NULL */

	/* The port monitor (-M / AUTOSSH_PORT); mon_port 0 is off. */
	int		  mon_port;
	int		  echo_port;	/* 0: loop mode */

	int		  background;	/* -f */
	int		  poll_s;
	int		  first_poll_s;
	int		  gate_s;
	int		  maxstart;	/* -1: no limit */
	int		  maxlifetime_s; /* 0: forever */
	char		  message[MAX_MESSAGE + 1];
	const char	 *pidfile;
	const char	 *logfile;
	int		  loglevel;
	int		  debug;
	int		  ntservice;
	int		  deadline_s;	/* 0: liveness layer off */
	int		  backoff_max_s;
	int		  wait_s;	/* 0: no --wait */
	int		  check_forwards_s; /* -1: when up and on failure; 0: off */
	char		  name[MAX_NAME + 1];	/* empty: derive */
	/* --fallback / AUTOSSH_FALLBACK (DESIGN.md §Fallbacks). */
	const char	 *fallback[MAX_FALLBACKS];
	int		  nfallback;
	char		 *fallback_env;	/* AUTOSSH_FALLBACK, split in place */
	/* The destinations' ssh arguments: [0] the primary's, then copies. */
	char		 *dest_argv[MAX_FALLBACKS + 1];

	/* --status */
	const char	 *status_target;
	int		  json;

	/* internal helper mode */
	const char	 *fdpass_socket;
};

/*
 * Parse argv and envp (a NULL-terminated "NAME=value" array) into cfg.
 * Returns 0, or -1 with one line in errbuf naming the culprit and the
 * accepted values.  Strings in cfg may point into argv and envp, which
 * must outlive it.  Call config_free() in both cases.
 */
int	config_parse(struct config *cfg, int argc, char **argv,
	    char **envp, char *errbuf, size_t errlen);

/* Free what config_parse() and config_ssh_insert() allocated. */
void	config_free(struct config *cfg);

/*
 * Insert a copy of arg into the ssh vector at index pos (1 .. ssh_argc);
 * dest_index moves along when pos <= dest_index.  Returns 0, or -1 with
 * errno set (ENOMEM, or EINVAL for a bad position).
 */
int	config_ssh_insert(struct config *cfg, int pos, const char *arg);

/*
 * Make destination i (0: the primary, then the fallbacks in order) the
 * one in the ssh vector, for the next start of ssh.  Changes only what
 * ssh_argv points to; does not allocate.  i out of range is ignored.
 */
void	config_use_destination(const struct config *cfg, int i);

/* The text of --help: the synopsis, every option and every variable. */
const char *config_usage(void);

/* The destination as given (user@host), from the ssh vector. */
const char *config_destination(const struct config *cfg);

#endif
