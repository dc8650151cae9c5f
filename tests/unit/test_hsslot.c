/*
 * Unit tests for hsslot.c (DESIGN.md §Handshake slots) against a
 * temporary directory: n slots can be held at once, the next taker is
 * told all are busy, a release or the death of a holder frees one, and
 * one destination's slots never block another's.  Each struct hsslot
 * opens its own file descriptions, so takers in one process contend
 * like separate instances do.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "hsslot.h"

static char tmpdir[64];

static int
group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_hsslot.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_init(void **state)
{
	struct hsslot hs;

	(void)state;
	assert_int_equal(hsslot_init(&hs, "", "h", 22, 8), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(hsslot_init(&hs, tmpdir, "", 22, 8), -1);
	assert_int_equal(hsslot_init(&hs, tmpdir, "h", 22, 0), -1);
	assert_int_equal(hs.fd, -1);
	assert_false(hsslot_held(&hs));
	/* Anything but name characters becomes '_'. */
	assert_int_equal(hsslot_init(&hs, tmpdir, "../x y/\n", 2222, 8), 0);
	assert_non_null(strstr(hs.prefix, "/.hs-.._x_y__-2222-"));
	assert_null(strchr(hs.prefix + strlen(tmpdir) + 1, '/'));
	assert_int_equal(hs.fd, -1);
}

static void
test_n_then_busy(void **state)
{
	struct hsslot hs[4], other, again;
	struct stat sb;
	char path[PATH_MAX + 16];
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_int_equal(hsslot_init(&hs[i], tmpdir, "bastion", 22, 3),
		    0);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(hsslot_take(&hs[i]), 1);
		assert_true(hsslot_held(&hs[i]));
		assert_true(hs[i].index >= 0 && hs[i].index < 3);
	}
	/* The files are private to the (already private) directory. */
	snprintf(path, sizeof(path), "%s%d", hs[0].prefix, hs[0].index);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0077, 0);
	/* Taking again while holding one is a no-op. */
	assert_int_equal(hsslot_take(&hs[0]), 1);
	/* The fourth taker finds all three held. */
	assert_int_equal(hsslot_take(&hs[3]), 0);
	assert_false(hsslot_held(&hs[3]));
	/* Another destination (here: another port) is not blocked. */
	assert_int_equal(hsslot_init(&other, tmpdir, "bastion", 2222, 3), 0);
	assert_int_equal(hsslot_take(&other), 1);
	hsslot_release(&other);
	/* A release frees exactly one. */
	hsslot_release(&hs[1]);
	assert_false(hsslot_held(&hs[1]));
	hsslot_release(&hs[1]);
	assert_int_equal(hsslot_take(&hs[3]), 1);
	assert_int_equal(hsslot_init(&again, tmpdir, "bastion", 22, 3), 0);
	assert_int_equal(hsslot_take(&again), 0);
	for (i = 0; i < 4; i++)
		hsslot_release(&hs[i]);
	assert_int_equal(hsslot_take(&again), 1);
	hsslot_release(&again);
}

/* A holder that dies without releasing leaves no slot behind. */
static void
test_death_frees(void **state)
{
	struct hsslot mine;
	int pfd[2], status, i;
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct hsslot hs[2];

		for (i = 0; i < 2; i++)
			if (hsslot_init(&hs[i], tmpdir, "dying", 22, 2) == -1 ||
			    hsslot_take(&hs[i]) != 1)
				_exit(1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	assert_int_equal(hsslot_init(&mine, tmpdir, "dying", 22, 2), 0);
	assert_int_equal(hsslot_take(&mine), 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(hsslot_take(&mine), 1);
	hsslot_release(&mine);
}

/* Files that cannot be made: an error, so the caller goes without. */
static void
test_unusable_dir(void **state)
{
	struct hsslot hs;
	char gone[128];

	(void)state;
	snprintf(gone, sizeof(gone), "%s/missing", tmpdir);
	assert_int_equal(hsslot_init(&hs, gone, "h", 22, 4), 0);
	assert_int_equal(hsslot_take(&hs), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(hsslot_held(&hs));
}

int
main(void)
{
	add_test("init: bad arguments, sanitised name", test_init, NULL);
	add_test("n slots, the next is busy, release frees one, other "
	    "destinations free", test_n_then_busy, NULL);
	add_test("a holder's death frees its slots", test_death_frees, NULL);
	add_test("unusable directory: an error", test_unusable_dir, NULL);
	return unit_run("test_hsslot", group_setup, group_teardown);
}
