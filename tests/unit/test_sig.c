/*
 * Unit tests for sig.c, the self-pipe: a caught signal raises its flag
 * and wakes poll(), flags are taken once, a full pipe loses nothing,
 * SIGPIPE is ignored, errno survives the handler, and sig_block() /
 * sig_restore() bracket a region with every signal held.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sig.h"

static int
setup(void **state)
{
	(void)state;
	if (sig_init() == -1)
		return -1;
	/* Forget whatever an earlier test left raised. */
	sig_drain();
	sig_take(SIGCHLD);
	sig_take(SIGTERM);
	sig_take(SIGINT);
	sig_take(SIGQUIT);
	sig_take(SIGHUP);
	sig_take(SIGUSR1);
	sig_take(SIGUSR2);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	sig_close();
	return 0;
}

static int
readable(int fd, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r == -1 && errno == EINTR);
	return r == 1 && (p.revents & POLLIN);
}

static void
test_pipe_flags(void **state)
{
	int fd = sig_fd();

	(void)state;
	assert_true(fd > STDERR_FILENO);
	assert_int_not_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	assert_int_not_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	assert_false(readable(fd, 0));
}

static void
test_caught_signals(void **state)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
	    SIGUSR2, SIGCHLD };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		assert_int_equal(sig_take(sigs[i]), 0);
		/* Delivered to us, and we survive it. */
		assert_int_equal(raise(sigs[i]), 0);
		assert_true(readable(sig_fd(), 1000));
		assert_int_equal(sig_take(sigs[i]), 1);
		/* Taken once. */
		assert_int_equal(sig_take(sigs[i]), 0);
		sig_drain();
		assert_false(readable(sig_fd(), 0));
	}
}

static void
test_flags_are_independent(void **state)
{
	(void)state;
	raise(SIGUSR1);
	raise(SIGHUP);
	assert_int_equal(sig_take(SIGTERM), 0);
	assert_int_equal(sig_take(SIGHUP), 1);
	assert_int_equal(sig_take(SIGUSR1), 1);
	/* Out-of-range numbers are simply not pending. */
	assert_int_equal(sig_take(0), 0);
	assert_int_equal(sig_take(-1), 0);
	assert_int_equal(sig_take(NSIG), 0);
	sig_drain();
}

static void
test_full_pipe_loses_nothing(void **state)
{
	int i;

	(void)state;
	/* Far more wake-ups than a pipe holds. */
	for (i = 0; i < 200000; i++)
		sig_post(SIGCHLD);
	sig_post(SIGTERM);
	assert_true(readable(sig_fd(), 0));
	assert_int_equal(sig_take(SIGTERM), 1);
	assert_int_equal(sig_take(SIGCHLD), 1);
	sig_drain();
	assert_false(readable(sig_fd(), 0));
}

static void
test_errno_preserved(void **state)
{
	int i;

	(void)state;
	/*
	 * Fill the pipe first, so that the handler's own write fails with
	 * EAGAIN: only then is there an errno for it to restore.
	 */
	for (i = 0; i < 200000; i++)
		sig_post(SIGCHLD);
	errno = ENOTTY;
	raise(SIGUSR2);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(sig_take(SIGUSR2), 1);
	sig_take(SIGCHLD);
	sig_drain();
}

/*
 * SIGCHLD only for a child that ended (SA_NOCLDSTOP): a stopped ssh is
 * the monitor's business, not an exit for the reaping loop.
 */
static void
test_no_sigchld_on_stop(void **state)
{
	int status, stopped, on_stop;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	assert_int_equal(kill(pid, SIGSTOP), 0);
	/*
	 * The stop has been reported once waitpid() returns, and a SIGCHLD
	 * it raised would have been handled on the way back from the call.
	 */
	while (waitpid(pid, &status, WUNTRACED) == -1)
		assert_int_equal(errno, EINTR);
	stopped = WIFSTOPPED(status);
	on_stop = sig_take(SIGCHLD);
	/* The child goes before any assertion can leave it behind. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	while (waitpid(pid, &status, 0) == -1)
		assert_int_equal(errno, EINTR);
	assert_true(stopped);
	assert_int_equal(on_stop, 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(sig_take(SIGCHLD), 1);
	sig_drain();
}

static void
test_sigpipe_ignored(void **state)
{
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	errno = 0;
	/* Without SIG_IGN this would kill the test. */
	assert_int_equal(write(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(p[1]);
}

static void
test_block_restore(void **state)
{
	sigset_t saved, now;

	(void)state;
	sig_block(&saved);
	sigprocmask(SIG_SETMASK, NULL, &now);
	assert_int_equal(sigismember(&now, SIGTERM), 1);
	assert_int_equal(sigismember(&now, SIGCHLD), 1);
	/* Held while blocked ... */
	raise(SIGUSR1);
	assert_int_equal(sig_take(SIGUSR1), 0);
	sig_restore(&saved);
	/* ... and delivered on restore. */
	assert_int_equal(sig_take(SIGUSR1), 1);
	sigprocmask(SIG_SETMASK, NULL, &now);
	assert_int_equal(sigismember(&now, SIGTERM), 0);
	sig_drain();
}

static void
test_init_twice_and_close(void **state)
{
	int fd = sig_fd();

	(void)state;
	/* A second sig_init keeps the same pipe. */
	assert_int_equal(sig_init(), 0);
	assert_int_equal(sig_fd(), fd);
	sig_close();
	assert_int_equal(sig_fd(), -1);
	/* A signal with the pipe closed still raises the flag. */
	raise(SIGUSR1);
	assert_int_equal(sig_take(SIGUSR1), 1);
	sig_drain();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipe_flags, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_caught_signals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_flags_are_independent,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_pipe_loses_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_preserved, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_sigchld_on_stop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sigpipe_ignored, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_block_restore, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_init_twice_and_close,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
