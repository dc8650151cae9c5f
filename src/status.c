/*
 * `autossh --status`: find the state files asked for, refresh a proven
 * instance's figures with SIGUSR2, and print each for a human or as
 * JSON.  Everything it prints came from a file, so every string is
 * escaped: log_escape() for a terminal, valid UTF-8 in JSON.  The file
 * itself, and whether its pid may be signalled, are state.c's business.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pidfile.h"
#include "state.h"
#include "status.h"
#include "util.h"

#define REFRESH_WAIT_MS	1000

/*
 * Ask the instance for fresh figures (SIGUSR2 rewrites the file) and
 * wait briefly for the new serial; keep the old state if it does not
 * come (another user's instance, or a stopped one).
 */
static void
refresh(const char *dir, struct state *st)
{
	int64_t end = now_ms() + REFRESH_WAIT_MS;
	struct state fresh;
	long serial = st->serial;

	if (state_signal(st, SIGUSR2) == -1)
		return;
	while (now_ms() < end) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		/* The same process's rewrite, not a new instance's file. */
		if (state_read(dir, st->name, &fresh) == 0 &&
		    fresh.serial != serial && fresh.pid == st->pid &&
		    fresh.have_start == st->have_start &&
		    fresh.start_time == st->start_time) {
			*st = fresh;
			return;
		}
		nanosleep(&ts, NULL);
	}
}

/*
 * A JSON string that is valid UTF-8 whatever the file held: controls
 * (C0, DEL and C1) as \u escapes, and each byte outside a well-formed
 * UTF-8 sequence as U+FFFD, the replacement character.
 */
static void
json_string(const char *s)
{
	putchar('"');
	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;
		unsigned long cp;
		size_t n = util_utf8_seq(s, &cp);

		if (n == 0) {
			fputs("\\ufffd", stdout);
			n = 1;
		} else if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			printf("\\u%04lx", cp);
		else
			fwrite(s, 1, n, stdout);
		s += n;
	}
	putchar('"');
}

static void
print_json(const struct state *st, int alive, int64_t now, int first)
{
	const char *what = alive == 1 ? st->state : alive == 0 ?
	    "not running" : "unverified";

	printf("%s{\"name\": ", first ? "" : ",\n");
	json_string(st->name);
	printf(", \"destination\": ");
	json_string(st->destination);
	printf(", \"pid\": %ld, \"running\": %s, \"state\": ", st->pid,
	    alive == 1 ? "true" : "false");
	json_string(what);
	if (alive != 1)
		printf(", \"stale\": %s", alive == 0 ? "true" : "false");
	printf(", \"since_unix\": %" PRId64 ", \"for_s\": %.1f", st->since_unix,
	    (double)(now - st->since_ms) / 1000);
	printf(", \"ssh_pid\": %ld, \"starts\": %d, \"restarts\": %d",
	    st->ssh_pid, st->starts, st->starts > 0 ? st->starts - 1 : 0);
	if (st->retry_ms > 0)
		printf(", \"next_try_in_s\": %.1f", st->retry_ms > now ?
		    (double)(st->retry_ms - now) / 1000 : 0.0);
	if (st->last_status >= 0 || st->last_signal > 0) {
		printf(", \"last_exit\": {\"status\": ");
		if (st->last_signal > 0)
			printf("null, \"signal\": %d", st->last_signal);
		else
			printf("%d, \"signal\": null", st->last_status);
		printf(", \"lived_s\": %.1f, \"reason\": ",
		    (double)st->last_lived_ms / 1000);
		json_string(st->last_reason);
		putchar('}');
	}
	if (st->have_tcp) {
		printf(", \"local\": ");
		json_string(st->local);
		printf(", \"remote\": ");
		json_string(st->remote);
		printf(", \"rtt_ms\": %.3f, \"bytes_sent\": %llu, "
		    "\"bytes_received\": %llu, \"figures_age_s\": %.1f",
		    (double)st->rtt_us / 1000, st->bytes_sent,
		    st->bytes_received, (double)(now - st->written_ms) / 1000);
	}
	if (st->preferred[0] != '\0') {
		printf(", \"preferred\": ");
		json_string(st->preferred);
	}
	printf(", \"forwards\": ");
	json_string(st->forwards);
	if (st->destination_in_use[0] != '\0') {
		printf(", \"destination_in_use\": ");
		json_string(st->destination_in_use);
		printf(", \"destination_reason\": ");
		json_string(st->destination_reason);
	}
	printf(", \"liveness\": ");
	json_string(st->liveness);
	printf(", \"detect_s\": %d, \"keepalive_bytes_per_day\": %ld, "
	    "\"evictions\": %d}", st->detect_s, st->keepalive_bytes_day,
	    st->evictions);
}

static void
bytes(unsigned long long n, char *buf, size_t len)
{
	if (n < 10 * 1024)
		snprintf(buf, len, "%llu B", n);
	else if (n < 10 * 1024 * 1024)
		snprintf(buf, len, "%.1f KB", (double)n / 1024);
	else
		snprintf(buf, len, "%.1f MB", (double)n / (1024 * 1024));
}

/* The escaped form of a field, for a terminal. */
#define ESC(field)	(log_escape(e_##field, sizeof(e_##field), \
	st->field), e_##field)

static void
print_human(const struct state *st, int alive, int64_t now)
{
	char d[32], when[32], b1[32], b2[32];
	char e_name[sizeof(st->name) * 4], e_state[sizeof(st->state) * 4];
	char e_destination[sizeof(st->destination) * 4];
	char e_last_reason[sizeof(st->last_reason) * 4];
	char e_local[sizeof(st->local) * 4], e_remote[sizeof(st->remote) * 4];
	char e_liveness[sizeof(st->liveness) * 4];
	char e_preferred[sizeof(st->preferred) * 4];
	char e_forwards[sizeof(st->forwards) * 4];
	char e_destination_in_use[sizeof(st->destination_in_use) * 4];
	char e_destination_reason[sizeof(st->destination_reason) * 4];
	time_t t = (time_t)st->since_unix;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		util_strlcpy(when, "?", sizeof(when));
	if (alive == 0) {
		printf("%s: not running (stale state from pid %ld)\n",
		    ESC(name), st->pid);
		return;
	}
	if (alive == -1) {
		printf("%s: unknown (pid %ld cannot be proven to be this "
		    "instance)\n", ESC(name), st->pid);
		return;
	}
	printf("%s: %s%s%s for %s (since %s), pid %ld\n", ESC(name),
	    ESC(state), st->forwards[0] ? ", " : "", ESC(forwards),
	    fmt_duration(now - st->since_ms, d, sizeof(d)), when, st->pid);
	if (st->retry_ms > 0 && st->retry_ms > now)
		printf("  next try in %s\n", fmt_duration(st->retry_ms - now, d,
		    sizeof(d)));
	printf("  destination %s, ssh pid %ld, %d start%s\n",
	    ESC(destination), st->ssh_pid, st->starts,
	    st->starts == 1 ? "" : "s");
	if (st->destination_in_use[0] != '\0')
		printf("  using %s (%s)\n", ESC(destination_in_use),
		    ESC(destination_reason));
	if (st->last_status >= 0 || st->last_signal > 0) {
		fmt_duration(st->last_lived_ms, d, sizeof(d));
		if (st->last_signal > 0)
			printf("  last exit: killed by signal %d after %s",
			    st->last_signal, d);
		else
			printf("  last exit: status %d after %s",
			    st->last_status, d);
		printf("%s%s%s\n", st->last_reason[0] ? " (" : "",
		    ESC(last_reason), st->last_reason[0] ? ")" : "");
	}
	if (st->have_tcp) {
		bytes(st->bytes_sent, b1, sizeof(b1));
		bytes(st->bytes_received, b2, sizeof(b2));
		fmt_duration(now - st->written_ms, d, sizeof(d));
		printf("  connection %s -> %s, rtt %.1f ms, sent %s, "
		    "received %s (as of %s ago)\n", ESC(local), ESC(remote),
		    (double)st->rtt_us / 1000, b1, b2, d);
	} else if (st->preferred[0] != '\0')
		printf("  next connection tries %s first (it worked last)\n",
		    ESC(preferred));
	if (st->evictions > 0)
		printf("  stale server sessions cleared: %d\n", st->evictions);
	printf("  liveness: %s\n", ESC(liveness));
}

#undef ESC

/*
 * Print one instance.  Only an instance asked for by name or pidfile is
 * refreshed: listing all of them must not signal every autossh on the
 * machine (each logs its state on SIGUSR2).
 */
static int
show(const char *dir, struct state *st, int json, int fresh, int *first)
{
	int alive = state_alive(st);

	if (alive == 1 && fresh)
		refresh(dir, st);
	if (json)
		print_json(st, alive, now_ms(), *first);
	else
		print_human(st, alive, now_ms());
	*first = 0;
	return alive == 1;
}

int
status_main(const char *target, const char *pidfile, int json)
{
	char dir[PATH_MAX], name[NAME_MAX + 1], why[128];
	char e_dir[sizeof(dir) * 4], e_target[NAME_MAX * 4];
	struct state st;
	long want = 0;
	int first = 1, shown = 0, alive = 0;
	DIR *dp;

	if (target != NULL && strchr(target, '/') != NULL) {
		pidfile = target;
		if ((want = (long)pidfile_pid(target)) == 0) {
			fprintf(stderr, "autossh: --status: no pid in %s\n",
			    target);
			return 1;
		}
		target = NULL;
	}
	if (state_dir(pidfile, dir, sizeof(dir)) == -1) {
		fprintf(stderr, "autossh: --status: no state directory "
		    "(not root, no XDG_RUNTIME_DIR, no pidfile)\n");
		return 1;
	}
	log_escape(e_dir, sizeof(e_dir), dir);
	log_escape(e_target, sizeof(e_target), target ? target : "");
	/*
	 * Whoever else can write the directory could plant the files we
	 * would print and the pids we would signal: refuse it outright.
	 */
	if (state_dir_check(dir, 0, why, sizeof(why)) == -1 &&
	    errno != ENOENT) {
		fprintf(stderr, "autossh: --status: refusing the state "
		    "directory %s: %s\n", e_dir, why);
		return 1;
	}
	if (json)
		printf("[");
	if (target != NULL) {
		if (state_read(dir, target, &st) == 0) {
			alive = show(dir, &st, json, 1, &first);
			shown = 1;
		}
	} else if ((dp = opendir(dir)) != NULL) {
		while (state_next_name(dp, name, sizeof(name))) {
			if (state_read(dir, name, &st) == -1 ||
			    (want != 0 && st.pid != want))
				continue;
			alive |= show(dir, &st, json, want != 0, &first);
			shown = 1;
		}
		closedir(dp);
	}
	if (json)
		printf("]\n");
	fflush(stdout);
	if (!shown) {
		fprintf(stderr, "autossh: --status: no autossh %s%s%s in %s\n",
		    target ? "named " : "", target ? e_target : want ?
		    "with that pidfile" : "is running", "", e_dir);
		return 1;
	}
	return alive ? 0 : 1;
}
