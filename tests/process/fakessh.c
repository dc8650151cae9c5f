/*
 * A stand-in for ssh in the process tests.  It records each start and
 * then behaves as the line of a plan file says, one line per start (the
 * last line repeats):
 *
 *	<sleep_ms|forever> <exit_status|sig:N> [term=ignore|term=N] [text...]
 *
 * "text" is written to stderr as ssh would write an error before the
 * sleep; term=ignore ignores SIGTERM, term=N exits N on SIGTERM, and
 * without it SIGTERM kills the process as it would by default.
 *
 * Environment: FAKESSH_PLAN (the plan file), FAKESSH_LOG (appended one
 * line per start: "start <n> pid <pid> args <argv...>"), FAKESSH_COUNT
 * (a counter file), FAKESSH_GLOG (appended one line per "-G" query, which
 * is not a start).  "-G" prints a minimal ssh -G output and exits 0.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int term_status = -1;

static void
on_term(int sig)
{
	(void)sig;
	_exit(term_status);
}

static int
next_count(const char *path)
{
	char buf[32] = "";
	int fd, n = 0;
	ssize_t r;

	if (path == NULL)
		return 1;
	if ((fd = open(path, O_RDWR | O_CREAT, 0644)) == -1)
		return 1;
	flock(fd, LOCK_EX);
	r = pread(fd, buf, sizeof(buf) - 1, 0);
	if (r > 0) {
		buf[r] = '\0';
		n = atoi(buf);
	}
	n++;
	snprintf(buf, sizeof(buf), "%d\n", n);
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, buf, strlen(buf), 0);
	close(fd);
	return n;
}

static void
plan_line(const char *path, int n, char *out, size_t len)
{
	char line[1024];
	FILE *f;

	snprintf(out, len, "forever 0");
	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return;
	while (n-- > 0 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, len, "%s", line);
	}
	fclose(f);
}

int
main(int argc, char **argv)
{
	char plan[1024], *sleep_s, *exit_s, *rest, *save = NULL;
	const char *log = getenv("FAKESSH_LOG");
	int i, n;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-G") == 0) {
			const char *glog = getenv("FAKESSH_GLOG");
			FILE *f;

			if (glog != NULL && (f = fopen(glog, "a")) != NULL) {
				fprintf(f, "query pid %ld\n", (long)getpid());
				fclose(f);
			}
			printf("hostname fakehost\nport 22\n"
			    "serveraliveinterval 0\nserveralivecountmax 3\n");
			return 0;
		}
	}
	n = next_count(getenv("FAKESSH_COUNT"));
	if (log != NULL) {
		FILE *f = fopen(log, "a");

		if (f != NULL) {
			fprintf(f, "start %d pid %ld args", n, (long)getpid());
			for (i = 1; i < argc; i++)
				fprintf(f, " %s", argv[i]);
			fprintf(f, "\n");
			fclose(f);
		}
	}
	plan_line(getenv("FAKESSH_PLAN"), n, plan, sizeof(plan));
	sleep_s = strtok_r(plan, " ", &save);
	exit_s = strtok_r(NULL, " ", &save);
	rest = save;
	if (rest != NULL && strncmp(rest, "term=", 5) == 0) {
		char *opt = strtok_r(NULL, " ", &save);

		rest = save;
		if (strcmp(opt + 5, "ignore") == 0)
			signal(SIGTERM, SIG_IGN);
		else {
			term_status = atoi(opt + 5);
			signal(SIGTERM, on_term);
		}
	}
	if (rest != NULL && *rest != '\0')
		fprintf(stderr, "%s\n", rest);
	if (sleep_s == NULL || strcmp(sleep_s, "forever") == 0) {
		for (;;)
			pause();
	} else {
		long ms = atol(sleep_s);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	if (exit_s != NULL && strncmp(exit_s, "sig:", 4) == 0) {
		signal(atoi(exit_s + 4), SIG_DFL);
		raise(atoi(exit_s + 4));
	}
	return exit_s ? atoi(exit_s) : 0;
}
