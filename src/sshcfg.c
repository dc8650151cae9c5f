/*
 * Reading ssh's effective configuration.  `ssh -G` applies the command
 * line, the user's and the system's files, Match blocks and defaults
 * exactly as a real connection would, so we ask it rather than parse
 * ssh_config ourselves.  The parser is pure and bounded (it is also a
 * fuzz target); the exec is the only system-facing part.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "child.h"
#include "sig.h"
#include "sshcfg.h"
#include "util.h"

#define G_OUTPUT_MAX	(256 * 1024)
#define G_TIMEOUT_MS	10000

static int
value_num(const char *key, const char *v, long long min, long long max,
    int *out, char *errbuf, size_t errlen)
{
	char why[128];
	long long n;

	if (parse_num(v, min, max, &n, why, sizeof(why)) == -1) {
		snprintf(errbuf, errlen, "ssh -G: %s: %s", key, why);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int
yes(const char *v)
{
	return strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0;
}

/* Host names go into a resolver, never a shell; still, refuse oddities. */
static int
sane_host(const char *h)
{
	for (; *h != '\0'; h++)
		if ((unsigned char)*h <= ' ' || *h == 0x7f)
			return 0;
	return 1;
}

/*
 * A forward's value, kept whole or not at all: a cut one could name
 * another port ("[host]:2222" cut to "[host]:22").
 */
static void
keep_forward(char dst[160], const char *v)
{
	if (util_strlcpy(dst, v, 160) >= 160)
		dst[0] = '\0';
}

static int
take(struct sshcfg *c, const char *key, const char *v, char *errbuf,
    size_t errlen)
{
	if (strcmp(key, "hostname") == 0) {
		if (!sane_host(v) || util_strlcpy(c->hostname, v,
		    sizeof(c->hostname)) >= sizeof(c->hostname)) {
			snprintf(errbuf, errlen, "ssh -G: unusable host name");
			return -1;
		}
	} else if (strcmp(key, "user") == 0)
		util_strlcpy(c->user, v, sizeof(c->user));
	else if (strcmp(key, "port") == 0)
		return value_num(key, v, 1, 65535, &c->port, errbuf, errlen);
	else if (strcmp(key, "addressfamily") == 0) {
		if (strcmp(v, "inet") == 0)
			c->family = AF_INET;
		else if (strcmp(v, "inet6") == 0)
			c->family = AF_INET6;
		else
			c->family = AF_UNSPEC;
	} else if (strcmp(key, "connecttimeout") == 0) {
		if (strcmp(v, "none") == 0)
			c->connect_timeout_s = 0;
		else
			return value_num(key, v, 0, 86400 * 365,
			    &c->connect_timeout_s, errbuf, errlen);
	} else if (strcmp(key, "serveraliveinterval") == 0)
		return value_num(key, v, 0, 86400 * 365, &c->alive_interval_s,
		    errbuf, errlen);
	else if (strcmp(key, "serveralivecountmax") == 0)
		return value_num(key, v, 0, 1000000, &c->alive_count_max,
		    errbuf, errlen);
	else if (strcmp(key, "batchmode") == 0)
		c->batchmode = yes(v);
	else if (strcmp(key, "proxycommand") == 0)
		c->has_proxycommand = strcasecmp(v, "none") != 0;
	else if (strcmp(key, "proxyjump") == 0)
		c->has_proxyjump = strcasecmp(v, "none") != 0;
	else if (strcmp(key, "exitonforwardfailure") == 0)
		c->exit_on_forward_failure = yes(v);
	else if (strcmp(key, "localforward") == 0) {
		if (c->local_forwards < SSHCFG_FWD_MAX)
			keep_forward(c->local_forward[c->local_forwards], v);
		c->local_forwards++;
	} else if (strcmp(key, "remoteforward") == 0) {
		if (c->remote_forwards < SSHCFG_FWD_MAX)
			keep_forward(c->remote_forward[c->remote_forwards], v);
		c->remote_forwards++;
	}
	else if (strcmp(key, "dynamicforward") == 0)
		c->dynamic_forwards++;
	else if (strcmp(key, "sessiontype") == 0)
		c->session_none = strcasecmp(v, "none") == 0;
	else if (strcmp(key, "loglevel") == 0)
		util_strlcpy(c->loglevel, v, sizeof(c->loglevel));
	else if (strcmp(key, "bindaddress") == 0)
		util_strlcpy(c->bind_address, v, sizeof(c->bind_address));
	else if (strcmp(key, "bindinterface") == 0)
		util_strlcpy(c->bind_interface, v, sizeof(c->bind_interface));
	return 0;
}

int
sshcfg_parse(const char *text, struct sshcfg *c, char *errbuf, size_t errlen)
{
	const char *p = text;

	memset(c, 0, sizeof(*c));
	c->port = 22;
	c->alive_count_max = 3;
	util_strlcpy(c->loglevel, "INFO", sizeof(c->loglevel));
	errbuf[0] = '\0';
	while (*p != '\0') {
		const char *end = strchr(p, '\n'), *sp;
		char key[32], val[512];
		size_t klen, vlen;

		if (end == NULL)
			end = p + strlen(p);
		sp = memchr(p, ' ', (size_t)(end - p));
		if (sp != NULL) {
			klen = (size_t)(sp - p);
			vlen = (size_t)(end - sp - 1);
			/* Over-long keys and values are not ones we read. */
			if (klen < sizeof(key) && vlen < sizeof(val)) {
				memcpy(key, p, klen);
				key[klen] = '\0';
				memcpy(val, sp + 1, vlen);
				val[vlen] = '\0';
				if (take(c, key, val, errbuf, errlen) == -1)
					return -1;
			}
		}
		p = *end == '\n' ? end + 1 : end;
	}
	if (c->hostname[0] == '\0') {
		snprintf(errbuf, errlen, "ssh -G: no host name in the output");
		return -1;
	}
	return 0;
}

/* Run ssh -G; collect stdout into out (NUL-terminated) and stderr. */
static int
run_g(const char *ssh_path, char *const argv[], int argc, char *out,
    size_t outlen, char *err, size_t errlen, int *status)
{
	int opipe[2], epipe[2], fds[2];
	size_t olen = 0, elen = 0;
	int64_t end = now_ms() + G_TIMEOUT_MS;
	char **gv;
	pid_t pid, parent = getpid();
	int i, open_fds = 2;

	if ((gv = calloc((size_t)argc + 2, sizeof(*gv))) == NULL)
		return -1;
	gv[0] = argv[0];
	gv[1] = (char *)"-G";
	for (i = 1; i < argc; i++)
		gv[i + 1] = argv[i];
	if (pipe2(opipe, O_CLOEXEC) == -1) {
		free(gv);
		return -1;
	}
	if (pipe2(epipe, O_CLOEXEC) == -1) {
		close(opipe[0]);
		close(opipe[1]);
		free(gv);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		sig_reset_child();
		dup2(opipe[1], STDOUT_FILENO);
		dup2(epipe[1], STDERR_FILENO);
		/* Like ssh itself, ssh -G must not outlive a killed autossh. */
		if (child_die_with_parent(parent) == -1) {
			dprintf(STDERR_FILENO, "%s\n", strerror(errno));
			_exit(126);
		}
		close_range(3, ~0U, 0);
		execv(ssh_path, gv);
		dprintf(STDERR_FILENO, "%s\n", strerror(errno));
		free(gv);
		_exit(127);
	}
	free(gv);
	close(opipe[1]);
	close(epipe[1]);
	if (pid == -1) {
		close(opipe[0]);
		close(epipe[0]);
		return -1;
	}
	fds[0] = opipe[0];
	fds[1] = epipe[0];
	while (open_fds > 0) {
		struct pollfd pfd[2];
		int64_t left = end - now_ms();
		nfds_t n = 0;

		for (i = 0; i < 2; i++) {
			if (fds[i] == -1)
				continue;
			pfd[n].fd = fds[i];
			pfd[n++].events = POLLIN;
		}
		if (left <= 0) {
			kill(pid, SIGKILL);
			snprintf(err, errlen, "ssh -G did not finish in %d s",
			    G_TIMEOUT_MS / 1000);
			elen = strlen(err);
			break;
		}
		if (poll(pfd, n, (int)left) == -1 && errno != EINTR)
			break;
		for (i = 0; i < (int)n; i++) {
			int which = pfd[i].fd == fds[0] ? 0 : 1;
			char *buf = which == 0 ? out : err;
			size_t *len = which == 0 ? &olen : &elen;
			size_t cap = which == 0 ? outlen : errlen;
			char scratch[512];
			ssize_t r;

			if (pfd[i].revents == 0)
				continue;
			/* The last of ssh's complaints is the one to keep. */
			if (which == 1 && *len + 1 >= cap) {
				memmove(err, err + *len - cap / 2, cap / 2);
				*len = cap / 2;
			}
			/* Past the cap, keep draining so ssh never blocks. */
			if (*len + 1 < cap)
				r = read(pfd[i].fd, buf + *len, cap - 1 - *len);
			else
				r = read(pfd[i].fd, scratch, sizeof(scratch));
			if (r > 0 && *len + 1 < cap)
				*len += (size_t)r;
			else if (r == 0 || (r == -1 && errno != EINTR)) {
				close(pfd[i].fd);
				fds[which] = -1;
				open_fds--;
			}
		}
	}
	for (i = 0; i < 2; i++)
		if (fds[i] != -1)
			close(fds[i]);
	out[olen] = '\0';
	err[elen < errlen ? elen : errlen - 1] = '\0';
	while (waitpid(pid, status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

int
sshcfg_load(const char *ssh_path, char *const argv[], int argc,
    struct sshcfg *c, char *errbuf, size_t errlen)
{
	char *out, err[1024];
	int status, rc = -1;

	if ((out = malloc(G_OUTPUT_MAX)) == NULL) {
		snprintf(errbuf, errlen, "ssh -G: out of memory");
		return -1;
	}
	if (run_g(ssh_path, argv, argc, out, G_OUTPUT_MAX, err, sizeof(err),
	    &status) == -1) {
		snprintf(errbuf, errlen, "unable to run %s -G: %s", ssh_path,
		    strerror(errno));
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *nl;

		/* ssh's last complaint is the useful one (ssh ends it in CR LF). */
		while ((nl = strrchr(err, '\n')) != NULL && nl[1] == '\0')
			*nl = '\0';
		while ((nl = strrchr(err, '\r')) != NULL && nl[1] == '\0')
			*nl = '\0';
		nl = strrchr(err, '\n');
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			snprintf(errbuf, errlen, "unable to run %s -G: %s",
			    ssh_path, err[0] ? (nl ? nl + 1 : err) :
			    "exit status 127");
		else
			snprintf(errbuf, errlen, "ssh rejects the configuration: "
			    "%s", err[0] ? (nl ? nl + 1 : err) :
			    "no reason given");
		goto done;
	}
	rc = sshcfg_parse(out, c, errbuf, errlen);
done:
	free(out);
	return rc;
}
