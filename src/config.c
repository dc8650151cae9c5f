/*
 * Command line and environment parsing.  This module knows autossh 1.4's
 * grammar and every option letter of current OpenSSH, so that it can
 * take -M, -f and -V out of a cluster, pass everything else to ssh in the
 * same order, and stop at the destination.  It does no I/O: paths are
 * checked and made absolute by the caller.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "util.h"

/* OpenSSH's flags without a value, and the options that take one. */
static const char ssh_flags[] = "1246AaCfGgKkMNnqsTtVvXxYy";
static const char ssh_valued[] = "BbcDEeFIiJLlmOoPpQRSWw";

/* Which settings the command line gave, so the environment yields. */
#define CL_DEADLINE	0x01
#define CL_BACKOFF	0x02
#define CL_WAIT		0x04
#define CL_NAME		0x08
#define CL_MONITOR	0x10
#define CL_CHECKFWD	0x20
#define CL_FALLBACK	0x40

struct parse {
	struct config	*cfg;
	char		*eb;
	size_t		 el;
	unsigned	 cl;
	int		 mon_pos;	/* ssh_argv index where -M stood */
	/* ssh keeps the first -o value of a keyword; so do we. */
	int		 seen_session;
	int		 seen_loglevel;
};

static const char usage_text[] =
"usage: autossh [-V] [-M port[:echo_port]] [-f] [--deadline=seconds]\n"
"               [--backoff-max=seconds] [--wait[=seconds]] [--name=name]\n"
"               [--check-forwards=seconds]\n"
"               [--fallback=destination ...]\n"
"               [SSH_OPTIONS] [user@]host [command [argument ...]]\n"
"       autossh --status [name | pidfile] [--json]\n"
"       autossh --help\n"
"\n"
"Start ssh, watch it, and restart it when it dies, hangs or stops passing\n"
"traffic.  Every option not listed here is passed to ssh unchanged.\n"
"\n"
"Options:\n"
"  -M port[:echo_port]  port monitor: 0 turns it off (the default); port\n"
"                       alone forwards a loop over port and port+1; with\n"
"                       echo_port, tests a remote echo service\n"
"  -f                   go to the background before starting ssh\n"
"  -V                   print the version and exit\n"
"  --deadline=SECONDS   the longest a dead link may go unnoticed (45; 0 off)\n"
"  --backoff-max=SECONDS  longest wait between quick failures (60)\n"
"  --wait[=SECONDS]     with -f: return once the tunnel is up (60)\n"
"  --name=NAME          name for --status (default: the destination)\n"
"  --check-forwards=SECONDS  check each LocalForward's target this often\n"
"                       (default: when up and when a connection fails; 0 off)\n"
"  --fallback=HOST      another Host of ssh_config to use when the\n"
"                       destination fails twice in a row (repeatable)\n"
"  --status [NAME|PIDFILE]  show the state of running autossh instances\n"
"  --json               with --status: print JSON\n"
"  --help               print this help and exit\n"
"\n"
"Environment:\n"
"  AUTOSSH_PATH         the ssh program (ssh in PATH, else /usr/bin/ssh)\n"
"  AUTOSSH_PORT         same as -M; -M wins\n"
"  AUTOSSH_POLL         seconds between monitor tests (600)\n"
"  AUTOSSH_FIRST_POLL   seconds before the first monitor test (= POLL)\n"
"  AUTOSSH_GATETIME     seconds the first ssh must live to count (30; -f: 0)\n"
"  AUTOSSH_MAXSTART     how many times ssh may start (-1: no limit)\n"
"  AUTOSSH_MAXLIFETIME  seconds after which autossh stops (0: forever)\n"
"  AUTOSSH_MESSAGE      text appended to the monitor message (64 bytes)\n"
"  AUTOSSH_PIDFILE      write autossh's pid to this file\n"
"  AUTOSSH_LOGFILE      log to this file instead of syslog\n"
"  AUTOSSH_LOGLEVEL     syslog level threshold, 0..7 (6)\n"
"  AUTOSSH_DEBUG        set: log level 7 and a copy on stderr\n"
"  AUTOSSH_NTSERVICE    yes: restart ssh even after a normal exit\n"
"  AUTOSSH_DEADLINE     same as --deadline\n"
"  AUTOSSH_BACKOFF_MAX  same as --backoff-max\n"
"  AUTOSSH_WAIT         same as --wait=SECONDS\n"
"  AUTOSSH_NAME         same as --name\n"
"  AUTOSSH_CHECK_FORWARDS  same as --check-forwards\n"
"  AUTOSSH_FALLBACK     same as --fallback, comma-separated; --fallback wins\n"
"\n"
"See autossh(1) for the details.\n";

const char *
config_usage(void)
{
	return usage_text;
}

static int fail(struct parse *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->eb, ps->el, fmt, ap);
	va_end(ap);
	return -1;
}

static int
num(struct parse *ps, const char *what, const char *s, long long min,
    long long max, int *out)
{
	char why[160];
	long long v;

	if (parse_num(s, min, max, &v, why, sizeof(why)) == -1)
		return fail(ps, "%s: %s", what, why);
	*out = (int)v;
	return 0;
}

static int
ssh_push(struct config *cfg, const char *arg)
{
	return config_ssh_insert(cfg, cfg->ssh_argc, arg);
}

int
config_ssh_insert(struct config *cfg, int pos, const char *arg)
{
	char *copy;

	/* Position 0 is ssh's argv[0], taken once by config_parse(). */
	if (pos < (cfg->ssh_argc > 0 ? 1 : 0) || pos > cfg->ssh_argc) {
		errno = EINVAL;
		return -1;
	}
	if (cfg->ssh_argc + 2 > cfg->ssh_cap) {
		int cap = cfg->ssh_cap ? cfg->ssh_cap * 2 : 16;
		char **v = realloc(cfg->ssh_argv, sizeof(*v) * (size_t)cap);

		if (v == NULL)
			return -1;
		if (cfg->ssh_cap == 0)
			v[0] = NULL;
		cfg->ssh_argv = v;
		cfg->ssh_cap = cap;
	}
	if ((copy = strdup(arg)) == NULL)
		return -1;
	memmove(cfg->ssh_argv + pos + 1, cfg->ssh_argv + pos,
	    sizeof(char *) * (size_t)(cfg->ssh_argc - pos + 1));
	cfg->ssh_argv[pos] = copy;
	cfg->ssh_argc++;
	if (cfg->dest_index > 0 && pos <= cfg->dest_index)
		cfg->dest_index++;
	return 0;
}

void
config_free(struct config *cfg)
{
	int i;

	/* The vector owns the primary's string, dest_argv the others. */
	if (cfg->ssh_argv != NULL && cfg->dest_index > 0 &&
	    cfg->dest_argv[0] != NULL)
		cfg->ssh_argv[cfg->dest_index] = cfg->dest_argv[0];
	for (i = 0; i <= MAX_FALLBACKS; i++) {
		if (i > 0)
			free(cfg->dest_argv[i]);
		cfg->dest_argv[i] = NULL;
	}
	free(cfg->fallback_env);
	cfg->fallback_env = NULL;
	for (i = 0; i < cfg->ssh_argc; i++)
		free(cfg->ssh_argv[i]);
	free(cfg->ssh_argv);
	cfg->ssh_argv = NULL;
	cfg->ssh_argc = cfg->ssh_cap = 0;
}

void
config_use_destination(const struct config *cfg, int i)
{
	if (i < 0 || i > cfg->nfallback || cfg->dest_index == 0)
		return;
	cfg->ssh_argv[cfg->dest_index] = cfg->dest_argv[i];
}

const char *
config_destination(const struct config *cfg)
{
	if (cfg->dest_index <= 0 || cfg->dest_index >= cfg->ssh_argc)
		return NULL;
	return cfg->ssh_argv[cfg->dest_index];
}

/* "port" or "port:echo_port", as for -M and AUTOSSH_PORT. */
static int
parse_monitor(struct parse *ps, const char *what, const char *spec)
{
	struct config *cfg = ps->cfg;
	char buf[32], *colon;

	if (util_strlcpy(buf, spec, sizeof(buf)) >= sizeof(buf))
		return fail(ps, "%s: '%s' is not port[:echo_port]", what,
		    spec);
	if ((colon = strchr(buf, ':')) == NULL) {
		cfg->echo_port = 0;
		return num(ps, what, buf, 0, 65534, &cfg->mon_port);
	}
	*colon = '\0';
	if (num(ps, what, buf, 1, 65535, &cfg->mon_port) == -1 ||
	    num(ps, what, colon + 1, 1, 65535, &cfg->echo_port) == -1)
		return -1;
	return 0;
}

/*
 * If the -o value o sets keyword key (ssh accepts "Key value" and
 * "Key=value", in any case), return the value; else NULL.
 */
static const char *
option_value(const char *o, const char *key)
{
	size_t k = strlen(key);

	while (*o == ' ' || *o == '\t')
		o++;
	if (strncasecmp(o, key, k) != 0 ||
	    (o[k] != ' ' && o[k] != '\t' && o[k] != '='))
		return NULL;
	o += k;
	while (*o == ' ' || *o == '\t')
		o++;
	if (*o == '=')
		o++;
	while (*o == ' ' || *o == '\t')
		o++;
	return o;
}

/* Is name acceptable as an instance name (it becomes a file name)? */
static int
valid_name(const char *s)
{
	if (*s == '\0' || *s == '.' || strlen(s) > MAX_NAME)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._@:+-") == strlen(s);
}

static int
set_name(struct parse *ps, const char *what, const char *v)
{
	if (!valid_name(v))
		return fail(ps, "%s: '%s' is not a valid name (1..64 of "
		    "A-Z a-z 0-9 . _ @ : + -, not starting with '.')", what,
		    v);
	util_strlcpy(ps->cfg->name, v, sizeof(ps->cfg->name));
	return 0;
}

/*
 * One fallback destination (DESIGN.md §Fallbacks).  Only its form is
 * checked here; whether ssh_config knows it is decided with ssh -G.
 */
static int
add_fallback(struct parse *ps, const char *what, const char *v)
{
	struct config *cfg = ps->cfg;

	if (*v == '\0')
		return fail(ps, "%s: empty value (expected a Host of "
		    "ssh_config)", what);
	if (*v == '-')
		return fail(ps, "%s: '%s' is not a destination", what, v);
	if (cfg->nfallback >= MAX_FALLBACKS)
		return fail(ps, "%s: more than %d fallbacks", what,
		    MAX_FALLBACKS);
	cfg->fallback[cfg->nfallback++] = v;
	return 0;
}

/*
 * A long option at argv[*i].  Values come after '=' or, for options
 * that require one, in the next argument.
 */
static int
long_option(struct parse *ps, int argc, char **argv, int *i)
{
	struct config *cfg = ps->cfg;
	const char *opt = argv[*i] + 2, *eq = strchr(opt, '=');
	size_t len = eq ? (size_t)(eq - opt) : strlen(opt);
	const char *val = eq ? eq + 1 : NULL;
	char name[32];
	int takes;

	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, opt, len);
	name[len] = '\0';

	if (strcmp(name, "help") == 0 || strcmp(name, "version") == 0 ||
	    strcmp(name, "status") == 0 || strcmp(name, "json") == 0) {
		if (val != NULL)
			return fail(ps, "--%s takes no value", name);
		if (strcmp(name, "help") == 0)
			cfg->mode = MODE_HELP;
		else if (strcmp(name, "version") == 0)
			cfg->mode = MODE_VERSION;
		else if (strcmp(name, "status") == 0)
			cfg->mode = MODE_STATUS;
		else
			cfg->json = 1;
		return 0;
	}
	if (strcmp(name, "wait") == 0) {
		ps->cl |= CL_WAIT;
		if (val == NULL) {
			cfg->wait_s = DEF_WAIT_S;
			return 0;
		}
		return num(ps, "--wait", val, 1, 86400, &cfg->wait_s);
	}
	takes = strcmp(name, "deadline") == 0 ||
	    strcmp(name, "backoff-max") == 0 || strcmp(name, "name") == 0 ||
	    strcmp(name, "check-forwards") == 0 ||
	    strcmp(name, "fallback") == 0 ||
	    strcmp(name, "fdpass-helper") == 0;
	if (!takes)
		return fail(ps, "unknown option '--%s'", name);
	if (val == NULL) {
		if (*i + 1 >= argc)
			return fail(ps, "option '--%s' needs a value", name);
		val = argv[++*i];
	}
	if (strcmp(name, "deadline") == 0) {
		ps->cl |= CL_DEADLINE;
		if (num(ps, "--deadline", val, 0, 86400, &cfg->deadline_s) ==
		    -1)
			return -1;
		if (cfg->deadline_s != 0 && cfg->deadline_s < MIN_DEADLINE_S)
			return fail(ps, "--deadline: '%s' is out of range "
			    "(0, or 5..86400)", val);
		return 0;
	}
	if (strcmp(name, "backoff-max") == 0) {
		ps->cl |= CL_BACKOFF;
		return num(ps, "--backoff-max", val, 1, 86400,
		    &cfg->backoff_max_s);
	}
	if (strcmp(name, "check-forwards") == 0) {
		ps->cl |= CL_CHECKFWD;
		return num(ps, "--check-forwards", val, 0, 86400,
		    &cfg->check_forwards_s);
	}
	if (strcmp(name, "name") == 0) {
		ps->cl |= CL_NAME;
		return set_name(ps, "--name", val);
	}
	if (strcmp(name, "fallback") == 0) {
		ps->cl |= CL_FALLBACK;
		return add_fallback(ps, "--fallback", val);
	}
	cfg->mode = MODE_FDPASS;
	cfg->fdpass_socket = val;
	return 0;
}

/*
 * Note what an -o option tells us.  "SessionType none" means there is no
 * session to end normally; a LogLevel below DEBUG1 hides the milestones
 * autossh reads (the user's command-line value wins over the one
 * autossh adds).
 */
static void
ssh_o(struct parse *ps, const char *o)
{
	const char *v;

	if ((v = option_value(o, "SessionType")) != NULL && !ps->seen_session) {
		ps->seen_session = 1;
		if (strcasecmp(v, "none") == 0)
			ps->cfg->no_session = 1;
	}
	if ((v = option_value(o, "LogLevel")) != NULL && !ps->seen_loglevel) {
		ps->seen_loglevel = 1;
		if (strncasecmp(v, "debug", 5) != 0)
			ps->cfg->ssh_quiet = 1;
	}
}

/*
 * A cluster of short options at argv[*i], such as -fNL8808:foo:80.
 * autossh's own letters are taken out; the rest is rebuilt in order.
 */
static int
short_options(struct parse *ps, int argc, char **argv, int *i, int dashdash)
{
	struct config *cfg = ps->cfg;
	const char *a = argv[*i], *p;
	char *out;
	size_t o = 1;
	int rc = -1;

	if ((out = malloc(strlen(a) + 1)) == NULL)
		return fail(ps, "out of memory");
	out[0] = '-';
	for (p = a + 1; *p != '\0'; p++) {
		char c = *p;
		const char *val;

		if (!dashdash && c == 'f') {
			cfg->background = 1;
			continue;
		}
		if (!dashdash && c == 'V') {
			cfg->mode = MODE_VERSION;
			rc = 0;
			goto out;
		}
		if (strchr(ssh_flags, c) != NULL && (dashdash || c != 'M')) {
			out[o++] = c;
			if (c == 'N')
				cfg->no_session = 1;
			if (c == 'q' || c == 'y')
				cfg->ssh_quiet = 1;
			continue;
		}
		if (strchr(ssh_valued, c) == NULL && c != 'M') {
			fail(ps, "unknown option '-%c'", c);
			goto out;
		}
		/* c takes a value: the rest of the cluster or the next arg. */
		if (p[1] != '\0')
			val = p + 1;
		else if (*i + 1 < argc)
			val = argv[++*i];
		else {
			fail(ps, "option '-%c' needs a value", c);
			goto out;
		}
		if (c == 'M') {
			if (o > 1) {
				out[o] = '\0';
				if (ssh_push(cfg, out) == -1)
					goto nomem;
				o = 1;
			}
			ps->cl |= CL_MONITOR;
			ps->mon_pos = cfg->ssh_argc;
			if (parse_monitor(ps, "-M", val) == -1)
				goto out;
			break;
		}
		if (c == 'W')
			cfg->no_session = 1;
		if (c == 'o')
			ssh_o(ps, val);
		if (c == 'E')
			cfg->ssh_quiet = 1;
		out[o++] = c;
		out[o] = '\0';
		if (ssh_push(cfg, out) == -1)
			goto nomem;
		o = 1;
		if (val == p + 1) {
			/* The value stays glued to its letter, as given. */
			size_t n = strlen(cfg->ssh_argv[cfg->ssh_argc - 1]);
			char *glued = malloc(n + strlen(val) + 1);

			if (glued == NULL)
				goto nomem;
			memcpy(glued, cfg->ssh_argv[cfg->ssh_argc - 1], n);
			memcpy(glued + n, val, strlen(val) + 1);
			free(cfg->ssh_argv[cfg->ssh_argc - 1]);
			cfg->ssh_argv[cfg->ssh_argc - 1] = glued;
		} else if (ssh_push(cfg, val) == -1)
			goto nomem;
		break;
	}
	if (o > 1) {
		out[o] = '\0';
		if (ssh_push(cfg, out) == -1)
			goto nomem;
	}
	rc = 0;
	goto out;
nomem:
	fail(ps, "out of memory");
out:
	free(out);
	return rc;
}

static const char *
env_get(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

static int
env_num(struct parse *ps, char **envp, const char *name, long long min,
    long long max, int *out)
{
	const char *v = env_get(envp, name);

	if (v == NULL)
		return 0;
	return num(ps, name, v, min, max, out);
}

static int
env_path(struct parse *ps, char **envp, const char *name, const char **out)
{
	const char *v = env_get(envp, name);

	if (v == NULL)
		return 0;
	if (*v == '\0')
		return fail(ps, "%s: empty value (expected a path)", name);
	*out = v;
	return 0;
}

/* AUTOSSH_FALLBACK: comma-separated; --fallback wins outright. */
static int
env_fallback(struct parse *ps, char **envp)
{
	const char *v = env_get(envp, "AUTOSSH_FALLBACK");
	char *p, *comma;

	if (v == NULL || (ps->cl & CL_FALLBACK))
		return 0;
	if ((ps->cfg->fallback_env = strdup(v)) == NULL)
		return fail(ps, "out of memory");
	for (p = ps->cfg->fallback_env;; p = comma + 1) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma = '\0';
		if (add_fallback(ps, "AUTOSSH_FALLBACK", p) == -1)
			return -1;
		if (comma == NULL)
			return 0;
	}
}

static int
parse_env(struct parse *ps, char **envp)
{
	struct config *cfg = ps->cfg;
	const char *v;
	int tmp;

	if (env_path(ps, envp, "AUTOSSH_PATH", &cfg->ssh_path_env) == -1 ||
	    env_path(ps, envp, "AUTOSSH_PIDFILE", &cfg->pidfile) == -1 ||
	    env_path(ps, envp, "AUTOSSH_LOGFILE", &cfg->logfile) == -1)
		return -1;
	if ((v = env_get(envp, "AUTOSSH_PORT")) != NULL) {
		int port = cfg->mon_port, echo = cfg->echo_port;

		if (parse_monitor(ps, "AUTOSSH_PORT", v) == -1)
			return -1;
		if (ps->cl & CL_MONITOR) {
			cfg->mon_port = port;
			cfg->echo_port = echo;
		}
	}
	if (env_num(ps, envp, "AUTOSSH_POLL", 1, INT_MAX, &cfg->poll_s) == -1)
		return -1;
	cfg->first_poll_s = cfg->poll_s;
	if (env_num(ps, envp, "AUTOSSH_FIRST_POLL", 1, INT_MAX,
	    &cfg->first_poll_s) == -1 ||
	    env_num(ps, envp, "AUTOSSH_GATETIME", 0, INT_MAX,
	    &cfg->gate_s) == -1 ||
	    env_num(ps, envp, "AUTOSSH_MAXSTART", -1, INT_MAX,
	    &cfg->maxstart) == -1 ||
	    env_num(ps, envp, "AUTOSSH_MAXLIFETIME", 0, INT_MAX,
	    &cfg->maxlifetime_s) == -1 ||
	    env_num(ps, envp, "AUTOSSH_LOGLEVEL", 0, 7, &cfg->loglevel) == -1)
		return -1;
	if (cfg->maxstart == 0)
		return fail(ps, "AUTOSSH_MAXSTART: '0' is out of range "
		    "(-1 for no limit, or 1..2147483647)");
	if ((v = env_get(envp, "AUTOSSH_MESSAGE")) != NULL) {
		const char *c;

		if (strlen(v) > MAX_MESSAGE)
			return fail(ps, "AUTOSSH_MESSAGE: longer than 64 bytes");
		for (c = v; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return fail(ps, "AUTOSSH_MESSAGE: control "
				    "characters are not allowed");
		util_strlcpy(cfg->message, v, sizeof(cfg->message));
	}
	if (env_get(envp, "AUTOSSH_DEBUG") != NULL)
		cfg->debug = 1;
	if ((v = env_get(envp, "AUTOSSH_NTSERVICE")) != NULL) {
		if (strcasecmp(v, "yes") == 0)
			cfg->ntservice = 1;
		else if (strcasecmp(v, "no") != 0)
			return fail(ps, "AUTOSSH_NTSERVICE: '%s' is not yes or "
			    "no", v);
	}
	tmp = cfg->deadline_s;
	if ((v = env_get(envp, "AUTOSSH_DEADLINE")) != NULL) {
		if (num(ps, "AUTOSSH_DEADLINE", v, 0, 86400, &tmp) == -1)
			return -1;
		if (tmp != 0 && tmp < MIN_DEADLINE_S)
			return fail(ps, "AUTOSSH_DEADLINE: '%s' is out of range "
			    "(0, or 5..86400)", v);
		if (!(ps->cl & CL_DEADLINE))
			cfg->deadline_s = tmp;
	}
	tmp = cfg->backoff_max_s;
	if (env_num(ps, envp, "AUTOSSH_BACKOFF_MAX", 1, 86400, &tmp) == -1)
		return -1;
	if (!(ps->cl & CL_BACKOFF))
		cfg->backoff_max_s = tmp;
	tmp = cfg->check_forwards_s;
	if (env_num(ps, envp, "AUTOSSH_CHECK_FORWARDS", 0, 86400, &tmp) == -1)
		return -1;
	if (!(ps->cl & CL_CHECKFWD))
		cfg->check_forwards_s = tmp;
	tmp = cfg->wait_s;
	if (env_num(ps, envp, "AUTOSSH_WAIT", 1, 86400, &tmp) == -1)
		return -1;
	if (!(ps->cl & CL_WAIT))
		cfg->wait_s = tmp;
	if ((v = env_get(envp, "AUTOSSH_NAME")) != NULL) {
		char keep[sizeof(cfg->name)];

		util_strlcpy(keep, cfg->name, sizeof(keep));
		if (set_name(ps, "AUTOSSH_NAME", v) == -1)
			return -1;
		if (ps->cl & CL_NAME)
			util_strlcpy(cfg->name, keep, sizeof(cfg->name));
	}
	return env_fallback(ps, envp);
}

/* Add the monitor's forwards where -M stood, or in front for the env. */
static int
inject_monitor(struct parse *ps)
{
	struct config *cfg = ps->cfg;
	int pos = (ps->cl & CL_MONITOR) ? ps->mon_pos : 1;
	char l[64], r[64];

	if (cfg->mon_port == 0)
		return 0;
	if (cfg->echo_port == 0) {
		snprintf(l, sizeof(l), "%d:127.0.0.1:%d", cfg->mon_port,
		    cfg->mon_port);
		snprintf(r, sizeof(r), "%d:127.0.0.1:%d", cfg->mon_port,
		    cfg->mon_port + 1);
		if (config_ssh_insert(cfg, pos, "-L") == -1 ||
		    config_ssh_insert(cfg, pos + 1, l) == -1 ||
		    config_ssh_insert(cfg, pos + 2, "-R") == -1 ||
		    config_ssh_insert(cfg, pos + 3, r) == -1)
			return fail(ps, "out of memory");
		return 0;
	}
	snprintf(l, sizeof(l), "%d:127.0.0.1:%d", cfg->mon_port,
	    cfg->echo_port);
	if (config_ssh_insert(cfg, pos, "-L") == -1 ||
	    config_ssh_insert(cfg, pos + 1, l) == -1)
		return fail(ps, "out of memory");
	return 0;
}

int
config_parse(struct config *cfg, int argc, char **argv, char **envp,
    char *errbuf, size_t errlen)
{
	struct parse ps = { .cfg = cfg, .eb = errbuf, .el = errlen };
	int i, dashdash = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = MODE_RUN;
	cfg->poll_s = DEF_POLL_S;
	cfg->gate_s = DEF_GATE_S;
	cfg->maxstart = -1;
	cfg->loglevel = DEF_LOGLEVEL;
	cfg->deadline_s = DEF_DEADLINE_S;
	cfg->backoff_max_s = DEF_BACKOFF_MAX_S;
	cfg->check_forwards_s = -1;
	errbuf[0] = '\0';
	if (ssh_push(cfg, "ssh") == -1)
		return fail(&ps, "out of memory");

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!dashdash && strcmp(a, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (cfg->mode == MODE_STATUS && a[0] != '-') {
			if (cfg->status_target != NULL)
				return fail(&ps, "--status takes one name or "
				    "pidfile, not '%s'", a);
			cfg->status_target = a;
			continue;
		}
		if (!dashdash && a[0] == '-' && a[1] == '-') {
			if (long_option(&ps, argc, argv, &i) == -1)
				return -1;
			if (cfg->mode == MODE_HELP || cfg->mode == MODE_VERSION)
				return 0;
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			if (short_options(&ps, argc, argv, &i, dashdash) == -1)
				return -1;
			if (cfg->mode == MODE_VERSION)
				return 0;
			continue;
		}
		/* The destination: it and everything after go to ssh as is. */
		if (cfg->mode == MODE_STATUS)
			break;
		cfg->has_command = i + 1 < argc;
		if (ssh_push(cfg, a) == -1)
			return fail(&ps, "out of memory");
		cfg->dest_index = cfg->ssh_argc - 1;
		for (i++; i < argc; i++)
			if (ssh_push(cfg, argv[i]) == -1)
				return fail(&ps, "out of memory");
		break;
	}
	if (cfg->mode == MODE_FDPASS)
		return 0;
	if (parse_env(&ps, envp) == -1)
		return -1;
	if (cfg->mode == MODE_STATUS)
		return 0;
	if (cfg->dest_index == 0)
		return fail(&ps, "no destination given (usage: autossh [-M "
		    "port[:echo_port]] [-f] [SSH_OPTIONS] [user@]host "
		    "[command])");
	/*
	 * Checked here, not when starting: a combination that can never
	 * work must be refused before anything (ssh -G, the pidfile, the
	 * monitor port) has been touched.
	 */
	if (cfg->wait_s > 0 && !cfg->background)
		return fail(&ps, "--wait (AUTOSSH_WAIT) works with -f only");
	if (cfg->background)
		cfg->gate_s = 0;
	cfg->dest_argv[0] = cfg->ssh_argv[cfg->dest_index];
	for (i = 0; i < cfg->nfallback; i++)
		if ((cfg->dest_argv[i + 1] = strdup(cfg->fallback[i])) == NULL)
			return fail(&ps, "out of memory");
	return inject_monitor(&ps);
}
