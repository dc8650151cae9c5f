/*
 * The helper's end of the liveness layer's connection, run by ssh as its
 * ProxyCommand (`autossh --fdpass-helper NAME`): it asks the supervisor
 * what to connect to, resolves the host, makes bounded connection
 * attempts with the socket options set, and passes the connected socket
 * to ssh on its stdout (ProxyUseFdpass) and back to the supervisor.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <linux/tcp.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "connect.h"
#include "connparams.h"
#include "eyeballs.h"
#include "util.h"

/*
 * Once every address has been tried, a new attempt this often while the
 * path is silent (DESIGN.md §Liveness); an address not yet tried gets
 * its first after EYEBALLS_STAGGER_MS instead.
 */
#define ATTEMPT_MS	2000
/* Each attempt retransmits its SYN once, then gives up after 3 s. */
#define ATTEMPT_SYNCNT	1
/*
 * Eight attempts a stagger apart span 2 s, inside one attempt's 3 s: a
 * first round over many addresses drops none of its attempts before
 * their SYN has been sent again.
 */
#define MAX_PENDING	8
/* Addresses tried, at most: one bit each in a refused mask. */
#define MAX_ADDRS	16
/*
 * A refusal means the host is there but sshd is not (yet): it may be
 * restarting, so keep asking once a second for a while before leaving it
 * to the supervisor's back-off.  A refusal costs the server nothing.
 */
#define REFUSED_RETRY_MS 1000
#define REFUSED_GRACE_MS 10000
/*
 * Right after a working session was lost, a refusal is most likely sshd
 * restarting (an upgrade, a crash under a service manager), which is
 * over within seconds.  The path is known good and a refused SYN is
 * answered by the server's kernel alone, so ask about seven times a
 * second for that long: a restarted sshd is then asked within about
 * 0.1 s, so the tunnel is back within that plus ssh's handshake.  Each
 * try is one SYN and one RST, about 120 bytes at IP level.
 */
#define QUICK_WINDOW_MS	12000
#define QUICK_FIRST_MS	100
#define QUICK_RETRY_MS	150
/* How long a helper waits for its parameters. */
#define PARAMS_WAIT_MS	10000
#define RESOLVE_RETRY_MS 2000

/* ---- the refusal schedule ---- */

int64_t
connect_refused_wait_ms(int64_t outage_ms, int64_t refused_for_ms, int n,
    uint16_t rnd)
{
	int64_t base;

	if (outage_ms >= 0 && outage_ms < QUICK_WINDOW_MS)
		base = n == 0 ? QUICK_FIRST_MS : QUICK_RETRY_MS;
	else if (refused_for_ms >= REFUSED_GRACE_MS)
		return -1;
	else
		base = REFUSED_RETRY_MS;
	/*
	 * 0.5 to 1.5 times the interval, so that many tunnels cut by one
	 * server restart do not come back in the same instant and trip its
	 * MaxStartups: their tries stay spread over a whole interval.
	 */
	return base / 2 + base * rnd / 65536;
}

/* ---- the helper ---- */

struct attempt {
	int	fd;
	int64_t	started_ms;
	int	addr;		/* index into the address list */
};

static void
set_options(int fd, const struct connparams *p)
{
	int one = 1, v;

	/* Failures only weaken detection; ssh still gets a socket. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (p->idle_s > 0)
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &p->idle_s,
		    sizeof(p->idle_s));
	if (p->intvl_s > 0)
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &p->intvl_s,
		    sizeof(p->intvl_s));
	if (p->cnt > 0)
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &p->cnt,
		    sizeof(p->cnt));
	if (p->user_timeout_ms > 0) {
		unsigned int ut = (unsigned int)p->user_timeout_ms;

		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
	}
	v = ATTEMPT_SYNCNT;
	setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &v, sizeof(v));
	if (p->bind_interface[0] != '\0')
		setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, p->bind_interface,
		    (socklen_t)strlen(p->bind_interface));
}

/*
 * Bind to the previous connection's address and port when reuse is set
 * (returns 1), else as BindAddress says (returns 0).
 */
static int
bind_local(int fd, const struct connparams *p, int family, int reuse)
{
	if (reuse && p->reuse.ss_family == family) {
		int one = 1;
		socklen_t len = family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&p->reuse, len) == 0)
			return 1;
	}
	if (p->bind_address[0] != '\0') {
		struct addrinfo hints, *res;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = family;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
		if (getaddrinfo(p->bind_address, NULL, &hints, &res) == 0) {
			bind(fd, res->ai_addr, res->ai_addrlen);
			freeaddrinfo(res);
		}
	}
	return 0;
}

/*
 * Start one non-blocking connect.  *reuse asks for the previous port and
 * is cleared when that port cannot be had.
 */
static int
start_attempt(const struct connparams *p, const struct addrinfo *ai,
    int *reuse, int *err)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);

	if (fd == -1) {
		*err = errno;
		return -1;
	}
	set_options(fd, p);
	if (*reuse && !bind_local(fd, p, ai->ai_family, 1))
		*reuse = 0;
	else if (!*reuse)
		bind_local(fd, p, ai->ai_family, 0);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		/* The port is taken (the old connection lingers): move on. */
		if (*err == EADDRNOTAVAIL || *err == EADDRINUSE)
			*reuse = 0;
		return -1;
	}
	return fd;
}

/* Wait for the supervisor's socket to hang up or for ms to pass. */
static int
supervisor_gone(int sup, int ms)
{
	struct pollfd pfd = { sup, POLLIN, 0 };

	if (poll(&pfd, 1, ms) > 0 && (pfd.revents & (POLLHUP | POLLIN |
	    POLLERR)))
		return 1;
	return 0;
}

static void tell(int, const char *, ...) __attribute__((format(printf, 2, 3)));

/* Send the supervisor one message (a failure's reason, in ssh's words). */
static void
tell(int sup, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0)
		send(sup, msg, strlen(msg), MSG_NOSIGNAL);
}

static struct addrinfo *
resolve(const struct connparams *p, int sup, int64_t end)
{
	struct addrinfo hints, *res;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = p->family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	for (;;) {
		r = getaddrinfo(p->host, p->port, &hints, &res);
		if (r == 0)
			return res;
		/* A resolver that cannot be reached may come back. */
		if (r != EAI_AGAIN && r != EAI_SYSTEM && r != EAI_FAIL)
			break;
		if (end != NEVER && now_ms() >= end)
			break;
		if (supervisor_gone(sup, RESOLVE_RETRY_MS))
			return NULL;
	}
	tell(sup, "fail Could not resolve hostname %s: %s", p->host,
	    gai_strerror(r));
	return NULL;
}

/*
 * One helper's dialing, from the resolved addresses to a connected
 * socket or a reason to give up.
 */
struct dialer {
	const struct connparams *p;
	int	sup;			/* the supervisor's socket */
	const struct addrinfo *addrs[MAX_ADDRS];
	int	naddr;
	int	next;			/* the address to try next, mod naddr */
	struct attempt pend[MAX_PENDING]; /* oldest first */
	int	npend;
	unsigned refused;		/* bit i: addrs[i] refused this round */
	unsigned tried;			/* bit i: addrs[i] had an attempt */
	int	nrefused;		/* rounds refused everywhere so far */
	int	reuse;			/* still trying the previous port */
	int	last_err;		/* the reason told when giving up */
	int64_t	start_ms, end_ms;	/* end_ms: ConnectTimeout, or NEVER */
	int64_t	next_ms;		/* when the next attempt is due */
	int64_t	refused_since;		/* first refused everywhere, or NEVER */
};

/* What one wait came to. */
enum wait_result { WAIT_MORE, WAIT_CONNECTED, WAIT_FAILED, WAIT_GONE };

/*
 * Keep the TCP addresses of the resolver's answer in the order to try
 * them: the one that worked last time first, then the families
 * interleaved (eyeballs_order()).
 */
static void
choose_addrs(struct dialer *d, const struct addrinfo *res)
{
	const struct addrinfo *ai, *all[MAX_ADDRS];
	const struct sockaddr *sa[MAX_ADDRS];
	int order[MAX_ADDRS], n = 0, i;

	for (ai = res; ai != NULL && n < MAX_ADDRS; ai = ai->ai_next) {
		all[n] = ai;
		sa[n++] = ai->ai_addr;
	}
	d->naddr = eyeballs_order(sa, n, d->p->family, &d->p->prefer, order);
	for (i = 0; i < d->naddr; i++)
		d->addrs[i] = all[order[i]];
}

/* Would the next attempt be the first to its address? */
static int
next_is_new(const struct dialer *d)
{
	return !(d->tried & (1u << (d->next % d->naddr)));
}

/*
 * An attempt failed: the next is due at once if it is the first to its
 * address, as the stagger was only there to give the failed one time
 * (RFC 8305 §5).
 */
static void
after_failure(struct dialer *d, int64_t now)
{
	if (next_is_new(d) && !d->reuse && d->next_ms > now)
		d->next_ms = now;
}

/*
 * While the previous port is wanted: skip the addresses of the other
 * family (none of its family: fresh ports from now on), and retire an
 * attempt from it that has lived its time, so the next can start.
 */
static void
follow_old_port(struct dialer *d, int64_t now)
{
	int want = d->p->reuse.ss_family, i;

	if (d->reuse) {
		for (i = 0; i < d->naddr; i++, d->next++)
			if (d->addrs[d->next % d->naddr]->ai_family == want)
				break;
		if (i == d->naddr)
			d->reuse = 0;
	}
	/* From the old port, only one attempt is ever pending. */
	if (d->reuse && d->npend > 0 &&
	    now - d->pend[0].started_ms >= d->p->reuse_ms) {
		close(d->pend[0].fd);
		d->npend = 0;
	}
}

/* Mark addrs[addr] as refusing; the old port has done its job. */
static void
note_refusal(struct dialer *d, int addr)
{
	d->refused |= 1u << addr;
	d->reuse = 0;
}

/*
 * Start an attempt to the next address when one is due, making room by
 * dropping the oldest, and set when the one after is due: a stagger
 * later if it goes to an address not yet tried, else ATTEMPT_MS (with
 * one address, a silent path is asked again that often).
 */
static void
start_next(struct dialer *d, int64_t now)
{
	int addr = d->next % d->naddr, e = 0, fd;

	if (now < d->next_ms || (d->reuse && d->npend > 0))
		return;
	if (d->npend == MAX_PENDING) {
		close(d->pend[0].fd);
		memmove(d->pend, d->pend + 1, sizeof(d->pend[0]) *
		    (size_t)--d->npend);
	}
	fd = start_attempt(d->p, d->addrs[addr], &d->reuse, &e);
	d->tried |= 1u << addr;
	if (fd != -1) {
		d->pend[d->npend].fd = fd;
		d->pend[d->npend].started_ms = now;
		d->pend[d->npend++].addr = addr;
	} else {
		d->last_err = e;
		if (e == ECONNREFUSED)
			note_refusal(d, addr);
	}
	d->next++;
	if (d->reuse)
		d->next_ms = now + d->p->reuse_ms;
	else if (!next_is_new(d))
		d->next_ms = now + ATTEMPT_MS;
	else
		d->next_ms = fd == -1 ? now : now + EYEBALLS_STAGGER_MS;
}

/*
 * Settle pend[i], whose connect has finished.  Connected: it goes to
 * *fd, every other attempt is closed, returns 1.  Failed: it is closed
 * and marked -1 for removal, its error is the last reason, returns 0.
 */
static int
settle(struct dialer *d, int i, int *fd)
{
	int err = 0, j;
	socklen_t el = sizeof(err);

	getsockopt(d->pend[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err == 0) {
		*fd = d->pend[i].fd;
		for (j = 0; j < d->npend; j++)
			if (j != i)
				close(d->pend[j].fd);
		d->npend = 0;
		return 1;
	}
	d->last_err = err;
	/*
	 * A stale session would have drawn a challenge ACK, not a reset:
	 * the old port has done its job.
	 */
	if (err == ECONNREFUSED)
		note_refusal(d, d->pend[i].addr);
	close(d->pend[i].fd);
	d->pend[i].fd = -1;
	return 0;
}

/*
 * Wait for the pending attempts, the supervisor's socket, or the next
 * attempt's time (or the ConnectTimeout), and settle the attempts that
 * finished.  *fd is set when one connected (WAIT_CONNECTED).
 */
static enum wait_result
wait_results(struct dialer *d, int64_t now, int *fd)
{
	struct pollfd pfd[MAX_PENDING + 1];
	int64_t wake;
	int i;

	for (i = 0; i < d->npend; i++) {
		pfd[i].fd = d->pend[i].fd;
		pfd[i].events = POLLOUT;
	}
	pfd[d->npend].fd = d->sup;
	pfd[d->npend].events = POLLIN;
	wake = d->next_ms < d->end_ms ? d->next_ms : d->end_ms;
	if (poll(pfd, (nfds_t)d->npend + 1, (int)(wake > now ?
	    wake - now : 0)) == -1 && errno != EINTR)
		return WAIT_FAILED;
	if (pfd[d->npend].revents != 0)
		return WAIT_GONE;
	for (i = 0; i < d->npend; i++) {
		if (pfd[i].revents == 0)
			continue;
		if (settle(d, i, fd))
			return WAIT_CONNECTED;
		after_failure(d, now);
	}
	for (i = 0; i < d->npend; )
		if (d->pend[i].fd == -1) {
			memmove(d->pend + i, d->pend + i + 1,
			    sizeof(d->pend[0]) * (size_t)(d->npend - i - 1));
			d->npend--;
		} else
			i++;
	return WAIT_MORE;
}

/*
 * Every address refused and nothing pending: ask again soon, as
 * connect_refused_wait_ms() says.  Returns -1 when it says give up.
 */
static int
after_refusals(struct dialer *d, int64_t now)
{
	const struct connparams *p = d->p;
	uint16_t r = 0;
	int64_t retry, t;

	if (d->refused != (1u << d->naddr) - 1 || d->npend != 0)
		return 0;
	t = now_ms();
	if (d->refused_since == NEVER)
		d->refused_since = now;
	util_random(&r, sizeof(r));
	retry = connect_refused_wait_ms(p->outage_ms < 0 ? -1 :
	    p->outage_ms + (t - d->start_ms), t - d->refused_since,
	    d->nrefused++, r);
	if (retry < 0)
		return -1;
	if (d->next_ms > t + retry)
		d->next_ms = t + retry;
	d->refused = 0;
	return 0;
}

/*
 * Connect, Happy Eyeballs style (RFC 8305): the addresses in
 * choose_addrs()'s order, each new one EYEBALLS_STAGGER_MS after the
 * last attempt started or at once when it failed; the first to connect
 * wins and the others are closed.  Once all have been tried, a new
 * attempt every ATTEMPT_MS across them, older attempts kept until their
 * own SYN retry runs out, so a slow answer still counts.  Refusals are
 * asked again as connect_refused_wait_ms() says, quickly just after a
 * working session was lost, then end it (the server is there and says
 * no: the supervisor's back-off takes over); silence never does, unless
 * ConnectTimeout says so.
 *
 * While the previous local port is wanted, attempts come from
 * that port one at a time, each living until its own SYN retry runs
 * out, and only to addresses of its family: the first SYN to reach the
 * server after an outage must come from that port to clear a stale
 * session.  Once the port cannot be had, fresh ports are used.
 *
 * Returns the connected socket, or -1: the reason is told to the
 * supervisor unless it hung up.
 */
static int
dial(const struct connparams *p, int sup)
{
	struct dialer d = { .p = p, .sup = sup, .last_err = ETIMEDOUT,
	    .reuse = p->reuse.ss_family != AF_UNSPEC, .refused_since = NEVER };
	struct addrinfo *res;
	enum wait_result w = WAIT_FAILED;
	int fd = -1, i;

	d.end_ms = p->timeout_ms > 0 ? now_ms() + p->timeout_ms : NEVER;
	d.start_ms = now_ms();
	if ((res = resolve(p, sup, d.end_ms)) == NULL)
		return -1;
	choose_addrs(&d, res);
	d.next_ms = now_ms();
	for (;;) {
		int64_t now = now_ms();

		if (d.naddr == 0 || (d.end_ms != NEVER && now >= d.end_ms))
			break;
		follow_old_port(&d, now);
		start_next(&d, now);
		if ((w = wait_results(&d, now, &fd)) != WAIT_MORE)
			break;
		if (after_refusals(&d, now) == -1)
			break;
	}
	for (i = 0; i < d.npend; i++)
		close(d.pend[i].fd);
	freeaddrinfo(res);
	if (w != WAIT_CONNECTED && w != WAIT_GONE)
		tell(sup, "fail connect to host %s port %s: %s", p->host,
		    p->port, strerror(d.last_err));
	return fd;
}

static int
send_fd(int sock, const char *data, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)data, len };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

int
connect_helper_main(const char *name)
{
	struct connparams p;
	struct sockaddr_un sun;
	struct pollfd pfd;
	char buf[1024];
	ssize_t n;
	int sup, fd;
	pid_t parent = getppid();

	/* Our parent is ssh: when it goes, so do we. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (strlen(name) >= sizeof(sun.sun_path) - 1) {
		fprintf(stderr, "autossh: --fdpass-helper: bad socket name\n");
		return 1;
	}
	sup = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sup == -1 || connect(sup, (struct sockaddr *)&sun,
	    conn_abstract_addr(name, &sun)) == -1) {
		fprintf(stderr, "autossh: --fdpass-helper: unable to reach "
		    "autossh: %s\n", strerror(errno));
		return 1;
	}
	pfd.fd = sup;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, PARAMS_WAIT_MS) != 1 ||
	    (n = recv(sup, buf, sizeof(buf), 0)) <= 0 ||
	    connparams_parse(buf, (size_t)n, &p) == -1) {
		fprintf(stderr, "autossh: --fdpass-helper: no usable "
		    "parameters from autossh\n");
		return 1;
	}
	if ((fd = dial(&p, sup)) == -1)
		return 255;
	/* The supervisor first, so that it knows before ssh can fail. */
	send_fd(sup, "ok", 2, fd);
	if (send_fd(STDOUT_FILENO, "", 1, fd) == -1) {
		fprintf(stderr, "autossh: --fdpass-helper: unable to pass the "
		    "connection to ssh: %s\n", strerror(errno));
		return 255;
	}
	return 0;
}
