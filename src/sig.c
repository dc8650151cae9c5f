/*
 * Signal handling with a self-pipe.  This module owns the handlers, the
 * flags and the pipe; what a signal means is decided by the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "sig.h"

static const int caught[] = {
	SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
};

static volatile sig_atomic_t pending[NSIG];
static int pipefd[2] = { -1, -1 };

static void
handler(int signo)
{
	int saved = errno;

	pending[signo] = 1;
	if (pipefd[1] != -1) {
		/* EAGAIN (full pipe) is fine: a wake-up is already queued. */
		(void)!write(pipefd[1], "", 1);
	}
	errno = saved;
}

int
sig_init(void)
{
	struct sigaction sa;
	size_t i;

	if (pipefd[0] == -1 && pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(caught) / sizeof(caught[0]); i++) {
		sa.sa_flags = SA_RESTART |
		    (caught[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
		if (sigaction(caught[i], &sa, NULL) == -1)
			return -1;
	}
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	return sigaction(SIGPIPE, &sa, NULL);
}

int
sig_fd(void)
{
	return pipefd[0];
}

void
sig_drain(void)
{
	char buf[64];

	if (pipefd[0] == -1)
		return;
	while (read(pipefd[0], buf, sizeof(buf)) > 0)
		;
}

int
sig_take(int signo)
{
	if (signo <= 0 || signo >= NSIG || !pending[signo])
		return 0;
	/*
	 * Clearing before acting means a signal arriving now raises the
	 * flag again and is seen on the next round, never lost.
	 */
	pending[signo] = 0;
	return 1;
}

void
sig_post(int signo)
{
	handler(signo);
}

void
sig_block(sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, saved);
}

void
sig_restore(const sigset_t *saved)
{
	sigprocmask(SIG_SETMASK, saved, NULL);
}

void
sig_reset_child(void)
{
	struct sigaction sa;
	sigset_t none;
	int signo;

	/*
	 * Every signal, not only ours: a disposition ignored by whoever
	 * started autossh (nohup, a shell's trap) must not reach ssh either.
	 * The C library's reserved signals and SIGKILL/SIGSTOP refuse; fine.
	 */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	for (signo = 1; signo < NSIG; signo++)
		sigaction(signo, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void
sig_close(void)
{
	if (pipefd[0] != -1)
		close(pipefd[0]);
	if (pipefd[1] != -1)
		close(pipefd[1]);
	pipefd[0] = pipefd[1] = -1;
}
