/*
 * autossh: start ssh, watch it, restart it.  This file turns argv and
 * the environment into a configuration, validates everything that can
 * be validated before ssh is started (and before -f goes to the
 * background), wires the modules together and maps the loop's result
 * to an exit status.  It is the only caller of exit() besides fatal().
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "connect.h"
#include "liveness.h"
#include "exitcode.h"
#include "log.h"
#include "loop.h"
#include "netwatch.h"
#include "notify.h"
#include "pidfile.h"
#include "probe.h"
#include "publish.h"
#include "sig.h"
#include "sshcfg.h"
#include "status.h"
#include "supervise.h"
#include "util.h"
#include "waitpipe.h"

extern char **environ;

static struct daemon the_daemon;

/* fatal() after start-up: ssh must not outlive us, nor the pidfile. */
static void
emergency(void)
{
	loop_emergency_stop(&the_daemon);
	publish_exit(&the_daemon.pub, &the_daemon);
	if (the_daemon.pidfile[0] != '\0')
		pidfile_remove(the_daemon.pidfile, the_daemon.pidfile_fd);
	the_daemon.pidfile_fd = -1;
}

/* Make 0, 1 and 2 valid, so that no file we open lands on them. */
static void
sane_stdio(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		if (fd > STDERR_FILENO) {
			close(fd);
			return;
		}
		/* The slot must survive exec, so drop close-on-exec. */
		fcntl(fd, F_SETFD, 0);
	}
	exit(EXIT_FAIL);
}

/* Is fd 2 the journal stream systemd gave us ($JOURNAL_STREAM)? */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Which sinks, given where fd 2 goes now (DESIGN.md §Logging). */
static unsigned
choose_sinks(const struct config *cfg, int foreground)
{
	unsigned sinks;

	if (cfg->logfile != NULL)
		sinks = LOG_TO_FILE;
	else if (stderr_is_journal())
		return LOG_TO_JOURNAL;
	else
		sinks = LOG_TO_SYSLOG;
	if (cfg->debug || (foreground && isatty(STDERR_FILENO)))
		sinks |= LOG_TO_STDERR;
	return sinks;
}

static void
write_pidfile(struct daemon *d)
{
	if (pidfile_write(d->pidfile_fd, getpid()) == -1)
		fatal("AUTOSSH_PIDFILE: unable to write %s: %s", d->pidfile,
		    strerror(errno));
}

static void
open_pidfile(struct daemon *d, const char *path)
{
	char why[PATH_MAX + 128];
	pid_t holder;

	if (pidfile_abspath(path, d->pidfile, sizeof(d->pidfile)) == -1)
		fatal("AUTOSSH_PIDFILE: unable to use %s: %s", path,
		    strerror(errno));
	d->pidfile_fd = pidfile_open(d->pidfile, &holder, why, sizeof(why));
	if (d->pidfile_fd != -1)
		return;
	if (errno == EWOULDBLOCK && holder > 0)
		fatal("already running (pid %ld): %s is locked", (long)holder,
		    d->pidfile);
	if (errno == EWOULDBLOCK)
		fatal("already running: %s is locked", d->pidfile);
	fatal("AUTOSSH_PIDFILE: %s", why);
}

/*
 * -f: the foreground parent reads the daemon's reports (waitpipe.h)
 * until it may return.  WAIT_STARTED says start-up is over: every
 * start-up error has been reported by then, by the daemon itself on the
 * standard error it still shares with us, so an end of file before it
 * means it failed.  With --wait (wait_s > 0) the parent then goes on
 * reading, until WAIT_UP, an end of file (the daemon gave up; the last
 * WAIT_RETRY or WAIT_EXIT says why), or wait_s pass.  Returns the exit
 * status.
 */
static int
wait_for_daemon(int fd, int wait_s, const char *dest)
{
	int64_t end = now_ms() + (int64_t)wait_s * 1000;
	struct waitpipe_reader r;
	char buf[512];

	waitpipe_reader_init(&r);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = r.started ? end - now_ms() : -1;
		ssize_t n;

		if (r.started && left <= 0) {
			dprintf(STDERR_FILENO, "autossh: error: the tunnel to %s "
			    "is not up after %d s (%s); autossh keeps trying "
			    "in the background\n", dest, wait_s, r.last);
			return EXIT_FAIL;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 && !r.started)
			return EXIT_FAIL;
		if (n <= 0) {
			dprintf(STDERR_FILENO, "autossh: error: the tunnel to %s "
			    "did not come up: %s\n", dest, r.last);
			return EXIT_FAIL;
		}
		/* The --wait time counts from WAIT_STARTED. */
		if (waitpipe_feed(&r, buf, (size_t)n) == WAIT_STARTED)
			end = now_ms() + (int64_t)wait_s * 1000;
		if (r.up || (r.started && wait_s == 0))
			return EXIT_OK;
	}
}

/*
 * -f: detach from the terminal.  The parent does not return: it exits
 * once the daemon has started (with --wait, once it reports), or with
 * EXIT_FAIL if the daemon dies first.  The daemon gets the pipe's write
 * end in *report_fd, and keeps the caller's standard error until
 * daemon_started(), so that fatal() still reaches the user.
 */
static void
daemonize(const struct config *cfg, int *report_fd)
{
	int fd, p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("unable to create a pipe: %s", strerror(errno));
	pid = fork();
	if (pid == -1)
		fatal("unable to fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		/* _exit: the pidfile and its lock now belong to the daemon. */
		_exit(wait_for_daemon(p[0], cfg->wait_s,
		    config_destination(cfg)));
	}
	close(p[0]);
	*report_fd = p[1];
	if (setsid() == -1)
		fatal("unable to start a new session: %s", strerror(errno));
	if (chdir("/") == -1)
		fatal("unable to change directory to /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		fatal("unable to open /dev/null: %s", strerror(errno));
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/*
 * -f: start-up is over.  Tell the parent, which returns now unless it
 * waits for the tunnel (--wait keeps the pipe open for publish.c), and
 * let go of the terminal's standard error.
 */
static void
daemon_started(struct daemon *d)
{
	int fd;

	if (waitpipe_send(d->pub.wait_fd, WAIT_STARTED, NULL) == -1)
		log_debug("unable to tell the parent we started: %s",
		    strerror(errno));
	if (d->cfg->wait_s == 0) {
		close(d->pub.wait_fd);
		d->pub.wait_fd = -1;
	}
	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		fatal("unable to open /dev/null: %s", strerror(errno));
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Insert "-o" and opt before the destination, after the user's options. */
static void
add_option(struct config *cfg, int *pos, const char *opt)
{
	if (config_ssh_insert(cfg, (*pos)++, "-o") == -1 ||
	    config_ssh_insert(cfg, (*pos)++, opt) == -1)
		fatal("unable to build ssh's arguments: %s", strerror(errno));
}

/* Our own path, for ssh's ProxyCommand. */
static void
self_path(char *out, size_t len)
{
	static const char deleted[] = " (deleted)";
	ssize_t n = readlink("/proc/self/exe", out, len - 1);
	size_t dl = sizeof(deleted) - 1;

	if (n <= 0)
		fatal("unable to find our own executable: %s", strerror(errno));
	out[n] = '\0';
	/* An upgrade may have replaced us; the new file is at the same path. */
	if ((size_t)n > dl && strcmp(out + n - dl, deleted) == 0)
		out[n - dl] = '\0';
}

/* The same server: HostName, Port and User all equal. */
static int
same_server(const struct sshcfg *a, const struct sshcfg *b)
{
	return strcasecmp(a->hostname, b->hostname) == 0 &&
	    a->port == b->port && strcmp(a->user, b->user) == 0;
}

/*
 * Each fallback's own ssh -G, with the user's ssh options, and the rules
 * of DESIGN.md §Fallbacks: a fallback is a Host block that sets a
 * HostName (ssh -G echoes an unknown name as its own host name), and no
 * two destinations may be the same server.  Runs before anything else
 * has started, so a bad one is a start-up error.
 */
static void
load_fallbacks(struct daemon *d, struct config *cfg)
{
	char err[512];
	const char *name, *at;
	int i, j;

	d->dest_cfg[0] = d->sshcfg;
	for (i = 1; i <= cfg->nfallback; i++) {
		name = cfg->fallback[i - 1];
		config_use_destination(cfg, i);
		if (sshcfg_load(d->ssh_path, cfg->ssh_argv,
		    cfg->dest_index + 1, &d->dest_cfg[i], err,
		    sizeof(err)) == -1) {
			config_use_destination(cfg, 0);
			fatal("--fallback '%s': %s", name, err);
		}
		config_use_destination(cfg, 0);
		at = strrchr(name, '@');
		if (strcasecmp(d->dest_cfg[i].hostname, at ? at + 1 : name)
		    == 0)
			fatal("--fallback '%s': unknown Host: no Host block of "
			    "ssh_config gives it a HostName", name);
		for (j = 0; j < i; j++) {
			if (!same_server(&d->dest_cfg[i], &d->dest_cfg[j]))
				continue;
			fatal("--fallback '%s': %s@%s port %d is the same server "
			    "as %s%s%s", name, d->dest_cfg[i].user,
			    d->dest_cfg[i].hostname, d->dest_cfg[i].port,
			    j == 0 ? "the primary destination" : "--fallback '",
			    j == 0 ? "" : cfg->fallback[j - 1],
			    j == 0 ? "" : "'");
		}
	}
}

/*
 * Read ssh's effective configuration and add what autossh needs to ssh's
 * arguments.  Every addition goes after the user's own options, and ssh
 * takes the first value it sees, so a user's command-line setting wins.
 */
/*
 * Forward health reads ssh's DEBUG1 channel lines (DESIGN.md §Forward
 * health); a quiet ssh prints none, so there is nothing to check then.
 */
static void
setup_forwards(struct daemon *d, const struct config *cfg)
{
	int interval = cfg->check_forwards_s;

	if (!d->ms.markers && interval != 0) {
		if (interval > 0)
			log_warn("--check-forwards: ssh is quiet (-q, -E or "
			    "LogLevel); forward health is not known");
		interval = 0;
	}
	fwdcheck_init(&d->fwd, &d->sshcfg, interval, cfg->mon_port,
	    cfg->echo_port);
}

static void
prepare_ssh(struct daemon *d, struct config *cfg)
{
	char err[512], self[PATH_MAX], pc[PATH_MAX * 2 + 64];
	char opt[sizeof(pc) + 32], plan[256];
	int pos;

	if (sshcfg_load(d->ssh_path, cfg->ssh_argv, cfg->dest_index + 1,
	    &d->sshcfg, err, sizeof(err)) == -1)
		fatal("%s", err);
	if (d->sshcfg.session_none)
		cfg->no_session = 1;
	load_fallbacks(d, cfg);
	liveness_plan(cfg->deadline_s, &d->sshcfg, &d->live);
	pos = cfg->dest_index;
	/* A forward that fails must fail the session (DESIGN.md §Forwards). */
	if (!d->sshcfg.exit_on_forward_failure)
		add_option(cfg, &pos, "ExitOnForwardFailure=yes");
	/*
	 * "Entering interactive session" and "all expected forwarding
	 * replies received" are DEBUG1 messages; they tell us the tunnel is
	 * up.  The lines are logged at our debug level only.
	 */
	d->ms.markers = !cfg->ssh_quiet;
	if (d->ms.markers)
		add_option(cfg, &pos, "LogLevel=DEBUG1");
	switch (d->live.mode) {
	case LIVE_SOCKET:
		if (conn_open(&d->conn, &d->sshcfg, &d->live) == -1)
			fatal("unable to create the connection socket: %s",
			    strerror(errno));
		self_path(self, sizeof(self));
		if (conn_proxy_command(&d->conn, self, pc, sizeof(pc)) == -1)
			fatal("unable to use %s in a ProxyCommand", self);
		snprintf(opt, sizeof(opt), "ProxyCommand=%s", pc);
		add_option(cfg, &pos, opt);
		add_option(cfg, &pos, "ProxyUseFdpass=yes");
		break;
	case LIVE_ALIVE:
		snprintf(opt, sizeof(opt), "ServerAliveInterval=%d",
		    d->live.alive_interval_s);
		add_option(cfg, &pos, opt);
		snprintf(opt, sizeof(opt), "ServerAliveCountMax=%d",
		    d->live.alive_count_max);
		add_option(cfg, &pos, opt);
		break;
	case LIVE_OFF:
	case LIVE_USER_ALIVE:
		break;
	}
	liveness_describe(&d->live, plan, sizeof(plan));
	log_info("liveness: %s", plan);
}

static void
make_policy(const struct config *cfg, int markers, int remote_forwards,
    struct sv_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->gate_ms = (int64_t)cfg->gate_s * 1000;
	p->long_enough_ms = cfg->gate_s > 0 ? p->gate_ms : 60 * 1000;
	p->backoff_base_ms = 1000;
	p->backoff_max_ms = (int64_t)cfg->backoff_max_s * 1000;
	p->kill_grace_ms = 5000;
	p->maxlifetime_ms = (int64_t)cfg->maxlifetime_s * 1000;
	p->maxstart = cfg->maxstart;
	/* Without ssh's milestones, a run this long counts as up. */
	p->up_after_ms = markers ? 0 : 10 * 1000;
	p->no_session = cfg->no_session;
	p->ntservice = cfg->ntservice;
	p->remote_forwards = remote_forwards;
	p->ndest = 1 + cfg->nfallback;
	p->probe_every_ms = PROBE_EVERY_MS;
	/*
	 * 1.4 exits 1 when told to stop.  Under systemd (which sets
	 * INVOCATION_ID for every unit it starts) a requested stop is a
	 * success, so that "systemctl stop" does not mark the unit failed.
	 */
	p->stop_exit_code = getenv("INVOCATION_ID") != NULL ? EXIT_OK :
	    EXIT_FAIL;
}

/*
 * -M (DESIGN.md §Port monitor).  An unusable port is a start-up error,
 * reported before -f goes to the background.
 */
static void
open_monitor(struct daemon *d, const struct config *cfg)
{
	char err[256];
	int poll_s, first_s;

	if (cfg->mon_port == 0)
		return;
	/* As in 1.4, a lifetime shorter than the poll time shortens it. */
	poll_s = monitor_poll_s(cfg->poll_s, cfg->maxlifetime_s);
	first_s = monitor_poll_s(cfg->first_poll_s, cfg->maxlifetime_s);
	if (poll_s != cfg->poll_s)
		log_info("AUTOSSH_MAXLIFETIME is shorter than AUTOSSH_POLL: "
		    "monitor tests every %d s", poll_s);
	if (monitor_open(&d->mon, cfg->mon_port, cfg->echo_port, poll_s,
	    first_s, cfg->message, err, sizeof(err)) == -1)
		fatal("%s", err);
	if (cfg->echo_port == 0)
		log_debug("monitor: loop mode through port %d, replies on "
		    "127.0.0.1:%d; first test %d s after each start, then "
		    "every %d s", cfg->mon_port, cfg->mon_port + 1, first_s,
		    poll_s);
	else
		log_debug("monitor: echo mode through port %d to the server's "
		    "port %d; first test %d s after each start, then every "
		    "%d s", cfg->mon_port, cfg->echo_port, first_s, poll_s);
}

static int
run(struct config *cfg)
{
	struct daemon *d = &the_daemon;
	const char *ssh = cfg->ssh_path_env ? cfg->ssh_path_env : "ssh";
	int level = cfg->debug ? LOG_LVL_DEBUG : cfg->loglevel;
	struct sv_policy policy;
	uint64_t seed;
	int code;

	d->cfg = cfg;
	d->pidfile_fd = -1;
	publish_clear(&d->pub);
	netwatch_init(&d->nw);
	child_init(&d->ssh);
	conn_init(&d->conn);
	monitor_init(&d->mon);
	log_init(level, choose_sinks(cfg, 1));
	if (cfg->logfile != NULL && log_open_file(cfg->logfile) == -1) {
		if (errno == ELOOP)
			fatal("AUTOSSH_LOGFILE: refusing to follow the symbolic "
			    "link %s", cfg->logfile);
		if (errno == EINVAL)
			fatal("AUTOSSH_LOGFILE: refusing %s: not a regular file "
			    "(nor /dev/null)", cfg->logfile);
		fatal("AUTOSSH_LOGFILE: unable to open %s: %s", cfg->logfile,
		    strerror(errno));
	}
	if (child_find_program(ssh, d->ssh_path, sizeof(d->ssh_path)) == -1) {
		if (cfg->ssh_path_env != NULL)
			fatal("AUTOSSH_PATH: unable to execute %s: %s", ssh,
			    strerror(errno));
		/* As 1.4 does: ssh in PATH, else /usr/bin/ssh. */
		if (child_find_program("/usr/bin/ssh", d->ssh_path,
		    sizeof(d->ssh_path)) == -1)
			fatal("unable to find ssh in PATH or /usr/bin/ssh: %s",
			    strerror(errno));
	}
	if (util_random(&seed, sizeof(seed)) == -1)
		fatal("unable to read random bytes: %s", strerror(errno));
	prepare_ssh(d, cfg);
	setup_forwards(d, cfg);
	/* From here on a fatal error must not leave the pidfile behind. */
	log_set_fatal_hook(emergency);
	if (cfg->pidfile != NULL) {
		open_pidfile(d, cfg->pidfile);
		/*
		 * Write it now, to find a file we cannot write before -f
		 * returns; the daemon writes its own pid again below.
		 */
		write_pidfile(d);
	}
	open_monitor(d, cfg);
	if (sig_init() == -1)
		fatal("unable to set up signal handling: %s", strerror(errno));
	if (notify_init() == -1)
		log_warn("unable to talk to systemd: %s", strerror(errno));
	d->pub.watchdog_ms = notify_watchdog_ms();

	/* -f moves us to /; ssh still starts where the user was. */
	if (getcwd(d->cwd, sizeof(d->cwd)) == NULL)
		d->cwd[0] = '\0';
	if (cfg->background)
		daemonize(cfg, &d->pub.wait_fd);
	log_init(level, choose_sinks(cfg, !cfg->background));
	if (cfg->background && d->pidfile_fd != -1)
		write_pidfile(d);
	publish_init(&d->pub, d, now_ms());
	if (netwatch_open(&d->nw) == -1)
		log_warn("unable to watch the network (restarts will not follow "
		    "link changes): %s", strerror(errno));
	if (cfg->background)
		daemon_started(d);

	make_policy(cfg, d->ms.markers, d->sshcfg.remote_forwards, &policy);
	/* DESIGN.md §Handshake slots; no state directory, no slots. */
	if (hsslot_init(&d->hs, d->pub.state_dir, d->sshcfg.hostname,
	    d->sshcfg.port, HSSLOT_N) == 0)
		policy.slot_wait_ms = HSSLOT_WAIT_MS;
	probe_init(&d->probe, &d->dest_cfg[0]);
	sv_init(&d->sv, &policy, now_ms(), seed);
	log_info("starting: %s, ssh is %s", config_destination(cfg),
	    d->ssh_path);
	code = loop_run(d);

	log_set_fatal_hook(NULL);
	publish_exit(&d->pub, d);
	netwatch_close(&d->nw);
	notify_close();
	conn_close(&d->conn);
	monitor_close(&d->mon);
	probe_close(&d->probe);
	if (d->pidfile[0] != '\0')
		pidfile_remove(d->pidfile, d->pidfile_fd);
	sig_close();
	return code;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	char err[512];
	int code;

	sane_stdio();
	/*
	 * Descriptors our caller left open are not ours to keep: a daemon
	 * holding, say, the write end of its caller's pipe keeps that caller
	 * waiting for an end of file for as long as the tunnel runs.  They
	 * go before anything of ours is opened, so everything opened later
	 * (pidfile, sockets, the --wait pipe) stays.  Every mode does
	 * without them: the fd-passing helper talks to ssh on its stdin and
	 * stdout and reaches us by socket name.
	 */
	close_range(STDERR_FILENO + 1, ~0U, 0);
	if (config_parse(&cfg, argc, argv, environ, err, sizeof(err)) == -1) {
		config_free(&cfg);
		fatal("%s", err);
	}
	switch (cfg.mode) {
	case MODE_HELP:
		fputs(config_usage(), stdout);
		code = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
		break;
	case MODE_VERSION:
		printf("autossh %s\n", AUTOSSH_VERSION);
		code = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
		break;
	case MODE_RUN:
		code = run(&cfg);
		break;
	case MODE_FDPASS:
		code = connect_helper_main(cfg.fdpass_socket);
		break;
	case MODE_STATUS:
		code = status_main(cfg.status_target, cfg.pidfile,
		    cfg.json);
		break;
	default:
		config_free(&cfg);
		fatal("this mode is not available yet");
	}
	config_free(&cfg);
	log_close();
	return code;
}
