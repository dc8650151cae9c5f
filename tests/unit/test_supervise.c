/*
 * Unit tests for supervise.c, which is pure: the exit table (DESIGN.md
 * §Exit rules) through sv_verdict(), and the state machine through
 * sv_handle() with a fake clock (first start and gate, capped exponential
 * back-off with full jitter, limits, signals, network events, kill
 * escalation, log lines).
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "log.h"
#include "supervise.h"
#include "util.h"


/* Wait statuses as waitpid() reports them on Linux. */
#define EXITED(n)	(((n) & 0xff) << 8)
#define KILLED(sig)	((sig) & 0x7f)

#define SEC		1000LL
#define MIN		(60 * SEC)
#define HOUR		(60 * MIN)

/* main.c's policy for "autossh -M 0 -N host": gate 30 s, -N. */
static struct sv_policy
policy(void)
{
	struct sv_policy p;

	memset(&p, 0, sizeof(p));
	p.gate_ms = 30 * SEC;
	p.long_enough_ms = 30 * SEC;
	p.backoff_base_ms = 1 * SEC;
	p.backoff_max_ms = 60 * SEC;
	p.kill_grace_ms = 5 * SEC;
	p.maxlifetime_ms = 0;
	p.maxstart = -1;
	p.no_session = 1;
	p.ntservice = 0;
	p.stop_exit_code = 1;
	return p;
}

/* ---- DESIGN.md §Exit rules through sv_verdict ---- */

struct verdict_row {
	const char	*name;
	int		 wstatus;
	enum ssh_cause	 cause;
	int		 first;
	int64_t		 lived_ms;
	int64_t		 gate_ms;
	int		 no_session;
	int		 ntservice;
	enum sv_verdict	 want;
};

#define G	(30 * SEC)	/* the default gate */
#define QUICK	(2 * SEC)	/* lived less than the gate */
#define LONG	(31 * SEC)	/* lived longer than the gate */

static const struct verdict_row verdict_rows[] = {
	/* exit 255, permanent cause */
	{ "255 permanent, first start within gate: exit 1",
	    EXITED(255), CAUSE_PERMANENT, 1, QUICK, G, 0, 0,
	    VERDICT_EXIT_FAIL },
	{ "255 permanent, first start after gate: restart",
	    EXITED(255), CAUSE_PERMANENT, 1, LONG, G, 0, 0, VERDICT_RESTART },
	{ "255 permanent, later start: restart",
	    EXITED(255), CAUSE_PERMANENT, 0, QUICK, G, 0, 0, VERDICT_RESTART },
	{ "255 permanent, gate 0: restart",
	    EXITED(255), CAUSE_PERMANENT, 1, 0, 0, 0, 0, VERDICT_RESTART },
	{ "255 permanent, lived exactly the gate: restart",
	    EXITED(255), CAUSE_PERMANENT, 1, G, G, 0, 0, VERDICT_RESTART },
	{ "255 permanent, lived gate-1 ms: exit 1",
	    EXITED(255), CAUSE_PERMANENT, 1, G - 1, G, 0, 0,
	    VERDICT_EXIT_FAIL },
	{ "255 permanent, first, no_session: exit 1",
	    EXITED(255), CAUSE_PERMANENT, 1, QUICK, G, 1, 0,
	    VERDICT_EXIT_FAIL },
	/* exit 255, transient cause */
	{ "255 transient, first start within gate: restart",
	    EXITED(255), CAUSE_TRANSIENT, 1, QUICK, G, 0, 0, VERDICT_RESTART },
	{ "255 transient, first start after gate: restart",
	    EXITED(255), CAUSE_TRANSIENT, 1, LONG, G, 0, 0, VERDICT_RESTART },
	{ "255 transient, later start: restart",
	    EXITED(255), CAUSE_TRANSIENT, 0, QUICK, G, 0, 0, VERDICT_RESTART },
	{ "255 unknown cause, first start within gate: restart",
	    EXITED(255), CAUSE_NONE, 1, QUICK, G, 0, 0, VERDICT_RESTART },
	/* killed by a signal */
	{ "SIGKILL, first start within gate: restart",
	    KILLED(SIGKILL), CAUSE_NONE, 1, QUICK, G, 0, 0, VERDICT_RESTART },
	{ "SIGTERM, first start within gate: restart",
	    KILLED(SIGTERM), CAUSE_PERMANENT, 1, QUICK, G, 0, 0,
	    VERDICT_RESTART },
	{ "SIGSEGV, later start: restart",
	    KILLED(SIGSEGV), CAUSE_NONE, 0, LONG, G, 0, 0, VERDICT_RESTART },
	/* exit 0 */
	{ "0, first start within gate: exit 1 (ended prematurely)",
	    EXITED(0), CAUSE_NONE, 1, QUICK, G, 0, 0, VERDICT_EXIT_FAIL },
	{ "0, first start after gate: exit 0",
	    EXITED(0), CAUSE_NONE, 1, LONG, G, 0, 0, VERDICT_EXIT_OK },
	{ "0, later start: exit 0",
	    EXITED(0), CAUSE_NONE, 0, QUICK, G, 0, 0, VERDICT_EXIT_OK },
	{ "0, first start within gate, no_session: exit 1",
	    EXITED(0), CAUSE_NONE, 1, QUICK, G, 1, 0, VERDICT_EXIT_FAIL },
	{ "0, first start after gate, no_session: restart",
	    EXITED(0), CAUSE_NONE, 1, LONG, G, 1, 0, VERDICT_RESTART },
	{ "0, later start, no_session: restart",
	    EXITED(0), CAUSE_NONE, 0, QUICK, G, 1, 0, VERDICT_RESTART },
	{ "0, later start, ntservice: restart",
	    EXITED(0), CAUSE_NONE, 0, LONG, G, 0, 1, VERDICT_RESTART },
	{ "0, gate 0, first start: exit 0",
	    EXITED(0), CAUSE_NONE, 1, 0, 0, 0, 0, VERDICT_EXIT_OK },
	{ "0, gate 0, first start, no_session: restart",
	    EXITED(0), CAUSE_NONE, 1, 0, 0, 1, 0, VERDICT_RESTART },
	/* exit 1 or 2 */
	{ "1, first start within gate: exit 1",
	    EXITED(1), CAUSE_NONE, 1, QUICK, G, 0, 0, VERDICT_EXIT_FAIL },
	{ "1, first start after gate: restart",
	    EXITED(1), CAUSE_NONE, 1, LONG, G, 0, 0, VERDICT_RESTART },
	{ "1, later start: restart",
	    EXITED(1), CAUSE_NONE, 0, QUICK, G, 0, 0, VERDICT_RESTART },
	{ "1, gate 0, first start: restart",
	    EXITED(1), CAUSE_NONE, 1, 0, 0, 0, 0, VERDICT_RESTART },
	{ "2, first start within gate: exit 1",
	    EXITED(2), CAUSE_NONE, 1, QUICK, G, 1, 0, VERDICT_EXIT_FAIL },
	{ "2, first start after gate: restart",
	    EXITED(2), CAUSE_NONE, 1, LONG, G, 1, 0, VERDICT_RESTART },
	{ "2, later start: restart",
	    EXITED(2), CAUSE_NONE, 0, QUICK, G, 1, 0, VERDICT_RESTART },
	/* any other status: a remote command's */
	{ "3, first start within gate: exit 1",
	    EXITED(3), CAUSE_NONE, 1, QUICK, G, 0, 0, VERDICT_EXIT_FAIL },
	{ "3, later start: exit 1",
	    EXITED(3), CAUSE_NONE, 0, LONG, G, 0, 0, VERDICT_EXIT_FAIL },
	{ "127, later start: exit 1",
	    EXITED(127), CAUSE_NONE, 0, LONG, G, 0, 0, VERDICT_EXIT_FAIL },
	{ "254, later start, ntservice: exit 1",
	    EXITED(254), CAUSE_TRANSIENT, 0, LONG, G, 1, 1,
	    VERDICT_EXIT_FAIL },
	{ "42, gate 0: exit 1",
	    EXITED(42), CAUSE_NONE, 1, 0, 0, 0, 0, VERDICT_EXIT_FAIL },
};

static void
test_verdict_row(void **state)
{
	const struct verdict_row *r = *state;
	struct sv_policy p = policy();

	p.gate_ms = r->gate_ms;
	p.no_session = r->no_session;
	p.ntservice = r->ntservice;
	assert_int_equal(sv_verdict(&p, r->wstatus, r->cause, r->first,
	    r->lived_ms), r->want);
}

/* ---- the state machine ---- */

struct run {
	struct sv	 sv;
	struct sv_out	 out;
	int64_t		 now;
};

static void
start(struct run *r, const struct sv_policy *p, uint64_t seed)
{
	r->now = 1000000;	/* a monotonic clock does not start at 0 */
	sv_init(&r->sv, p, r->now, seed);
	assert_int_equal(r->sv.state, SV_STARTING);
}

#define SV_EDGES	(SV_UP_BEGAN | SV_UP_ENDED)

/*
 * Feed e.  Every event of every test checks the session's edges: BEGAN
 * exactly when the state became UP, ENDED exactly when it was UP and is
 * no longer (the session rows below show them by name).  The actions are
 * returned without them, so the other tests say only what they are about.
 */
static unsigned
handle(struct run *r, const struct sv_event *e)
{
	enum sv_state was = r->sv.state;
	unsigned a;

	sv_handle(&r->sv, e, r->now, &r->out);
	a = r->out.actions;
	assert_int_equal((a & SV_UP_BEGAN) != 0,
	    was != SV_UP && r->sv.state == SV_UP);
	assert_int_equal((a & SV_UP_ENDED) != 0,
	    was == SV_UP && r->sv.state != SV_UP);
	return a & ~(unsigned)SV_EDGES;
}

static unsigned
ev(struct run *r, enum sv_event_type type)
{
	struct sv_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	return handle(r, &e);
}

static unsigned
ev_reason(struct run *r, enum sv_event_type type, const char *reason)
{
	struct sv_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.reason = reason;
	return handle(r, &e);
}

static unsigned
ssh_exit(struct run *r, int wstatus, enum ssh_cause cause,
    const char *reason)
{
	struct sv_event e;

	memset(&e, 0, sizeof(e));
	e.type = EV_CHILD_EXIT;
	e.wstatus = wstatus;
	e.cause = cause;
	e.reason = reason;
	return handle(r, &e);
}

/* Start the first ssh and check the actions. */
static void
first_spawn(struct run *r)
{
	assert_int_equal(ev(r, EV_START), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r->sv.state, SV_CONNECTING);
	assert_int_equal(r->sv.starts, 1);
}

/* Bring the tunnel up after 2 s. */
static void
come_up(struct run *r)
{
	r->now += 2 * SEC;
	ev(r, EV_TRANSPORT);
	ev(r, EV_UP);
	assert_int_equal(r->sv.state, SV_UP);
}

/* Fire the timeout at the deadline, as the loop would. */
static unsigned
at_deadline(struct run *r)
{
	int64_t d = sv_deadline(&r->sv);

	assert_true(d != NEVER);
	assert_true(d >= r->now);
	r->now = d;
	return ev(r, EV_TIMEOUT);
}

static void
test_start(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	assert_true(sv_deadline(&r.sv) == NEVER);
	/* Events before EV_START do nothing. */
	assert_int_equal(ev(&r, EV_TIMEOUT), 0);
	assert_int_equal(ev(&r, EV_RETRY_NOW), 0);
	assert_int_equal(ev(&r, EV_UP), 0);
	assert_int_equal(r.sv.state, SV_STARTING);
	first_spawn(&r);
	assert_true(r.sv.started_ms == r.now);
	assert_true(sv_deadline(&r.sv) == NEVER);
	/* A second EV_START is ignored. */
	assert_int_equal(ev(&r, EV_START), 0);
	assert_int_equal(r.sv.starts, 1);
}

static void
test_up_and_ready(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 2500;
	assert_int_equal(ev(&r, EV_TRANSPORT), 0);
	assert_int_equal(ev(&r, EV_UP), SV_READY | SV_CHANGED);
	assert_int_equal(r.sv.state, SV_UP);
	assert_string_equal(r.out.msg, "tunnel up after 2.5 s");
	assert_int_equal(r.out.level, LOG_LVL_INFO);
	/* Already up: nothing. */
	assert_int_equal(ev(&r, EV_UP), 0);
	/* A later tunnel up is a transition but not READY again. */
	r.now += HOUR;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL),
	    SV_SPAWN | SV_CHANGED);
	r.now += 1 * SEC;
	assert_int_equal(ev(&r, EV_UP), SV_CHANGED);
}

static void
test_first_start_within_gate_permanent(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 1200;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_PERMANENT,
	    "Permission denied (publickey)."), SV_EXIT | SV_CHANGED);
	assert_int_equal(r.sv.state, SV_EXITED);
	assert_int_equal(r.out.exit_code, 1);
	assert_int_equal(r.sv.exit_code, 1);
	assert_int_equal(r.out.level, LOG_LVL_ERR);
	assert_string_equal(r.out.msg, "ssh exited with status 255 after "
	    "1.2 s (Permission denied (publickey).); first start failed "
	    "within the gate time of 30 s; exiting");
	assert_true(sv_deadline(&r.sv) == NEVER);
	/* Nothing moves an exited supervisor. */
	assert_int_equal(ev(&r, EV_STOP), 0);
	assert_int_equal(ev(&r, EV_RESTART), 0);
	assert_int_equal(ev(&r, EV_NET_CHANGE), 0);
	assert_int_equal(ev(&r, EV_TIMEOUT), 0);
	assert_int_equal(r.sv.state, SV_EXITED);
}

static void
test_first_start_after_gate_permanent(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 30 * SEC;
	/* Lived the gate time, which is also long enough: at once. */
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_PERMANENT, NULL),
	    SV_SPAWN);
	assert_int_equal(r.sv.state, SV_CONNECTING);
	assert_int_equal(r.sv.starts, 2);
	/* The second start is past the gate rule: back off instead. */
	r.now += 100;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_PERMANENT, NULL),
	    SV_CHANGED);
	assert_int_equal(r.sv.state, SV_BACKOFF);
}

static void
test_first_start_transient_backs_off(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	int64_t d;

	(void)state;
	start(&r, &p, 7);
	first_spawn(&r);
	r.now += 300;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT,
	    "ssh: connect to host broker port 22: Connection refused"),
	    SV_CHANGED);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	d = sv_deadline(&r.sv);
	assert_true(d == r.sv.retry_ms);
	assert_true(d >= r.now && d <= r.now + 1 * SEC);
	/* Early timeouts do nothing. */
	if (d > r.now) {
		int64_t keep = r.now;

		r.now = d - 1;
		assert_int_equal(ev(&r, EV_TIMEOUT), 0);
		assert_int_equal(r.sv.state, SV_BACKOFF);
		r.now = keep;
	}
	assert_int_equal(at_deadline(&r), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.state, SV_CONNECTING);
	assert_int_equal(r.sv.starts, 2);
	assert_true(sv_deadline(&r.sv) == NEVER);
}

static void
test_gate0_first_start_permanent_restarts(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.gate_ms = 0;			/* -f */
	p.long_enough_ms = 60 * SEC;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 100;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_PERMANENT,
	    "Host key verification failed."), SV_CHANGED);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	/* exit 1 too */
	at_deadline(&r);
	r.now += 100;
	ssh_exit(&r, EXITED(1), CAUSE_NONE, NULL);
	assert_int_equal(r.sv.state, SV_BACKOFF);
}

static void
test_exit_0_after_gate_with_command(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.no_session = 0;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 40 * SEC;
	assert_int_equal(ssh_exit(&r, EXITED(0), CAUSE_NONE, NULL),
	    SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
	assert_string_equal(r.out.msg,
	    "ssh exited with status 0 after 40.0 s; exiting");
}

static void
test_exit_0_no_session_restarts(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	come_up(&r);
	r.now += 2 * HOUR;
	assert_int_equal(ssh_exit(&r, EXITED(0), CAUSE_NONE, NULL), SV_SPAWN |
	    SV_CHANGED);
}

static void
test_exit_remote_command_status(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.no_session = 0;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 2 * HOUR;
	assert_int_equal(ssh_exit(&r, EXITED(3), CAUSE_NONE, NULL),
	    SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 1);
	assert_int_equal(r.out.level, LOG_LVL_ERR);
	assert_string_equal(r.out.msg,
	    "ssh exited with status 3 after 2h00m; exiting");
}

static void
test_killed_by_signal_message(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	char want[256], dur[32];

	(void)state;
	start(&r, &p, 3);
	first_spawn(&r);
	r.now += 1 * SEC;
	assert_int_equal(ssh_exit(&r, KILLED(SIGKILL), CAUSE_NONE, NULL),
	    SV_CHANGED);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	fmt_duration(r.sv.retry_ms - r.now, dur, sizeof(dur));
	snprintf(want, sizeof(want), "ssh was killed by signal 9 (SIGKILL) "
	    "after 1.0 s; retry in %s", dur);
	assert_string_equal(r.out.msg, want);
	assert_int_equal(r.out.level, LOG_LVL_INFO);
	assert_int_equal(r.sv.last_wstatus, KILLED(SIGKILL));
	assert_true(r.sv.last_lived_ms == 1 * SEC);
}

static void
test_exit_255_log_line(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	char want[512], dur[32];
	const char *why = "ssh: connect to host broker port 22: Connection "
	    "refused";

	(void)state;
	start(&r, &p, 11);
	first_spawn(&r);
	r.now += 3200;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, why);
	fmt_duration(r.sv.retry_ms - r.now, dur, sizeof(dur));
	snprintf(want, sizeof(want), "ssh exited with status 255 after 3.2 s "
	    "(%s); retry in %s", why, dur);
	assert_string_equal(r.out.msg, want);
	assert_string_equal(r.sv.last_reason, why);
	assert_int_equal(r.sv.last_wstatus, EXITED(255));
}

static void
test_long_run_restarts_at_once(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	come_up(&r);
	r.now += (3 * 3600 + 12 * 60) * SEC - 2 * SEC;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT,
	    "Timeout, server Broker not responding."), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.state, SV_CONNECTING);
	assert_string_equal(r.out.msg, "ssh exited with status 255 after "
	    "3h12m (Timeout, server Broker not responding.); restarting now");
	assert_true(r.sv.started_ms == r.now);
	assert_int_equal(r.sv.starts, 2);
}

/*
 * Quick failures in a row: the k-th wait is uniform in [0, cap_k] with
 * cap_k = min(1 s * 2^k, backoff_max).  Over many seeds every draw stays
 * within its cap and the largest draw comes close to it, so the cap does
 * grow (and full jitter does reach down to 0).
 */
#define SEEDS	300
#define STEPS	10

static void
backoff_series(int64_t max_ms)
{
	struct sv_policy p = policy();
	int64_t hi[STEPS], lo[STEPS], cap;
	struct run r;
	uint64_t seed;
	int k;

	p.backoff_max_ms = max_ms;
	for (k = 0; k < STEPS; k++) {
		hi[k] = -1;
		lo[k] = INT64_MAX;
	}
	for (seed = 1; seed <= SEEDS; seed++) {
		start(&r, &p, seed * 0x9e3779b97f4a7c15ULL);
		first_spawn(&r);
		for (k = 0; k < STEPS; k++) {
			int64_t wait;

			r.now += 500;	/* lived 0.5 s: a quick failure */
			ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
			assert_int_equal(r.sv.state, SV_BACKOFF);
			wait = sv_deadline(&r.sv) - r.now;
			cap = (1000LL << k) < max_ms ? (1000LL << k) : max_ms;
			if (wait < 0 || wait > cap) {
				fail_msg("seed %llu step %d: wait %lld ms "
				    "not in [0, %lld]",
				    (unsigned long long)seed, k,
				    (long long)wait, (long long)cap);
			}
			if (wait > hi[k])
				hi[k] = wait;
			if (wait < lo[k])
				lo[k] = wait;
			assert_int_equal(at_deadline(&r),
			    SV_SPAWN | SV_CHANGED);
		}
	}
	for (k = 0; k < STEPS; k++) {
		cap = (1000LL << k) < max_ms ? (1000LL << k) : max_ms;
		if (hi[k] < cap * 9 / 10 || lo[k] > cap / 10)
			fail_msg("step %d: draws in [%lld, %lld], cap %lld",
			    k, (long long)lo[k], (long long)hi[k],
			    (long long)cap);
	}
}

static void
test_backoff_series_default(void **state)
{
	(void)state;
	backoff_series(60 * SEC);
}

static void
test_backoff_series_small_max(void **state)
{
	(void)state;
	backoff_series(5 * SEC);
}

static void
test_backoff_ms_direct(void **state)
{
	static const int64_t caps[] = { 1000, 2000, 4000, 8000, 16000, 32000,
	    60000, 60000, 60000 };
	struct sv_policy p = policy();
	uint64_t rng;
	size_t n;
	int i;

	(void)state;
	for (n = 0; n < sizeof(caps) / sizeof(caps[0]); n++) {
		int64_t hi = -1;

		rng = 42 + n;
		for (i = 0; i < 2000; i++) {
			int64_t w = sv_backoff_ms(&p, (int)n, &rng);

			assert_true(w >= 0 && w <= caps[n]);
			if (w > hi)
				hi = w;
		}
		assert_true(hi >= caps[n] * 95 / 100);
	}
	/* A huge exponent neither overflows nor passes the cap. */
	rng = 5;
	for (i = 0; i < 100; i++) {
		int64_t w = sv_backoff_ms(&p, 1000000, &rng);

		assert_true(w >= 0 && w <= 60000);
	}
	/* The same seed gives the same series; another seed another. */
	{
		uint64_t a = 99, b = 99, c = 100;
		int same = 1, differ = 0;

		for (i = 0; i < 20; i++) {
			int64_t wa = sv_backoff_ms(&p, 6, &a);

			if (wa != sv_backoff_ms(&p, 6, &b))
				same = 0;
			if (wa != sv_backoff_ms(&p, 6, &c))
				differ = 1;
		}
		assert_true(same);
		assert_true(differ);
	}
}

static void
test_backoff_reset_after_long_run(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	int k;

	(void)state;
	p.backoff_max_ms = 600 * SEC;
	start(&r, &p, 5);
	first_spawn(&r);
	for (k = 0; k < 8; k++) {
		r.now += 100;
		ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
		at_deadline(&r);
	}
	assert_int_equal(r.sv.quick_failures, 8);
	/* This one lived long enough: restart at once, forget the series. */
	come_up(&r);
	r.now += p.long_enough_ms;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL),
	    SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.quick_failures, 0);
	/* The next quick failure waits at most the base again. */
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	assert_true(sv_deadline(&r.sv) - r.now <= 1 * SEC);
}

static void
test_long_enough_boundary(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 5);
	first_spawn(&r);
	r.now += 31 * SEC;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
	/* Lived long_enough - 1 ms: a quick failure. */
	r.now += p.long_enough_ms - 1;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL),
	    SV_CHANGED);
	assert_int_equal(r.sv.state, SV_BACKOFF);
}

static void
test_maxstart(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.maxstart = 2;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
	assert_int_equal(at_deadline(&r), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.starts, 2);
	r.now += 100;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL),
	    SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
	assert_int_equal(r.sv.state, SV_EXITED);
	assert_non_null(strstr(r.out.msg, "AUTOSSH_MAXSTART (2) reached"));
	assert_int_equal(r.sv.starts, 2);
}

static void
test_maxstart_after_long_run(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.maxstart = 1;
	start(&r, &p, 1);
	first_spawn(&r);
	come_up(&r);
	r.now += HOUR;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL),
	    SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
	assert_non_null(strstr(r.out.msg, "AUTOSSH_MAXSTART (1) reached"));
	/* SIGUSR1 cannot start a second one either. */
	p.maxstart = 1;
	start(&r, &p, 1);
	first_spawn(&r);
	assert_int_equal(ev(&r, EV_RESTART), SV_TERM | SV_CHANGED);
	r.now += 10;
	assert_int_equal(ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL),
	    SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
}

static void
test_maxlifetime_running(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	int64_t t0;

	(void)state;
	p.maxlifetime_ms = HOUR;
	start(&r, &p, 1);
	t0 = r.now;
	assert_true(sv_deadline(&r.sv) == t0 + HOUR);
	first_spawn(&r);
	come_up(&r);
	assert_true(sv_deadline(&r.sv) == t0 + HOUR);
	r.now = t0 + HOUR - 1;
	assert_int_equal(ev(&r, EV_TIMEOUT), 0);
	assert_int_equal(at_deadline(&r), SV_TERM | SV_CHANGED);
	assert_int_equal(r.sv.state, SV_STOPPING);
	assert_string_equal(r.out.msg,
	    "AUTOSSH_MAXLIFETIME (3600 s) reached; stopping ssh");
	assert_true(sv_deadline(&r.sv) == r.now + 5 * SEC);
	r.now += 200;
	assert_int_equal(ssh_exit(&r, EXITED(0), CAUSE_NONE, NULL),
	    SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
}

static void
test_maxlifetime_kill(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.maxlifetime_ms = 10 * SEC;
	start(&r, &p, 1);
	first_spawn(&r);
	assert_int_equal(at_deadline(&r), SV_TERM | SV_CHANGED);
	/* ssh ignores SIGTERM. */
	assert_int_equal(at_deadline(&r), SV_KILL);
	assert_true(sv_deadline(&r.sv) == NEVER);
	r.now += 10;
	assert_int_equal(ssh_exit(&r, KILLED(SIGKILL), CAUSE_NONE, NULL),
	    SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
}

static void
test_maxlifetime_backoff(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	int64_t t0;

	(void)state;
	p.maxlifetime_ms = 10 * SEC;
	p.backoff_max_ms = 3600 * SEC;
	start(&r, &p, 1);
	t0 = r.now;
	first_spawn(&r);
	/* Quick failures until a back-off reaches past the lifetime. */
	for (;;) {
		r.now += 100;
		ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
		assert_int_equal(r.sv.state, SV_BACKOFF);
		if (r.sv.retry_ms > t0 + 10 * SEC)
			break;
		at_deadline(&r);
	}
	assert_true(sv_deadline(&r.sv) == t0 + 10 * SEC);
	assert_int_equal(at_deadline(&r), SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
	assert_string_equal(r.out.msg,
	    "AUTOSSH_MAXLIFETIME (10 s) reached; exiting");
}

/* EV_STOP while ssh runs: TERM, then KILL after the grace time. */
static void
stop_running(struct run *r, int code, int ignore_term)
{
	int64_t t;

	assert_int_equal(ev(r, EV_STOP), SV_TERM | SV_CHANGED);
	assert_int_equal(r->sv.state, SV_STOPPING);
	assert_string_equal(r->out.msg, "stopping ssh");
	t = r->now;
	assert_true(sv_deadline(&r->sv) == t + 5 * SEC);
	/* A second stop signal changes nothing. */
	r->now += 1 * SEC;
	assert_int_equal(ev(r, EV_STOP), 0);
	/* Nor do restart requests or network events. */
	assert_int_equal(ev(r, EV_RESTART), 0);
	assert_int_equal(ev(r, EV_RETRY_NOW), 0);
	assert_int_equal(ev(r, EV_NET_CHANGE), 0);
	assert_int_equal(ev(r, EV_LINK_LOST), 0);
	r->now = t + 5 * SEC - 1;
	assert_int_equal(ev(r, EV_TIMEOUT), 0);
	if (ignore_term) {
		r->now = t + 5 * SEC;
		assert_int_equal(ev(r, EV_TIMEOUT), SV_KILL);
		assert_int_equal(r->out.level, LOG_LVL_WARNING);
		assert_string_equal(r->out.msg, "ssh did not exit within "
		    "5 s of SIGTERM; sending SIGKILL");
		assert_true(sv_deadline(&r->sv) == NEVER);
		/* Only once. */
		r->now += 10 * SEC;
		assert_int_equal(ev(r, EV_TIMEOUT), 0);
		assert_int_equal(ssh_exit(r, KILLED(SIGKILL), CAUSE_NONE, NULL),
		    SV_EXIT | SV_CHANGED);
	} else {
		assert_int_equal(ssh_exit(r, EXITED(0), CAUSE_NONE, NULL),
		    SV_EXIT | SV_CHANGED);
	}
	assert_int_equal(r->out.exit_code, code);
	assert_int_equal(r->sv.exit_code, code);
	assert_int_equal(r->sv.state, SV_EXITED);
	assert_true(sv_deadline(&r->sv) == NEVER);
}

static void
test_stop_connecting(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	stop_running(&r, 1, 1);
}

static void
test_stop_up(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	come_up(&r);
	stop_running(&r, 1, 0);
	/* Under systemd the stop is a success. */
	p.stop_exit_code = 0;
	start(&r, &p, 1);
	first_spawn(&r);
	come_up(&r);
	stop_running(&r, 0, 1);
}

static void
test_stop_backoff(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	/* No ssh to stop: exit now, and never spawn. */
	assert_int_equal(ev(&r, EV_STOP), SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 1);
	assert_true(sv_deadline(&r.sv) == NEVER);
	r.now += HOUR;
	assert_int_equal(ev(&r, EV_TIMEOUT), 0);
}

static void
test_stop_starting(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.stop_exit_code = 0;
	start(&r, &p, 1);
	assert_int_equal(ev(&r, EV_STOP), SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
	assert_int_equal(ev(&r, EV_START), 0);
}

static void
test_stop_while_stopping_for_restart(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	int64_t kill_at;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	come_up(&r);
	assert_int_equal(ev(&r, EV_RESTART), SV_TERM | SV_CHANGED);
	kill_at = sv_deadline(&r.sv);
	r.now += 1 * SEC;
	/* No second SIGTERM, the same SIGKILL deadline, but now exit. */
	assert_int_equal(ev(&r, EV_STOP), 0);
	assert_true(sv_deadline(&r.sv) == kill_at);
	assert_int_equal(at_deadline(&r), SV_KILL);
	r.now += 10;
	assert_int_equal(ssh_exit(&r, KILLED(SIGKILL), CAUSE_NONE, NULL),
	    SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 1);
}

static void
test_stop_after_maxlifetime_stop(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.maxlifetime_ms = 10 * SEC;
	p.stop_exit_code = 1;
	start(&r, &p, 1);
	first_spawn(&r);
	assert_int_equal(at_deadline(&r), SV_TERM | SV_CHANGED);
	r.now += 10;
	assert_int_equal(ev(&r, EV_STOP), 0);
	r.now += 10;
	assert_int_equal(ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL),
	    SV_EXIT | SV_CHANGED);
	/* An explicit stop signal decides the status. */
	assert_int_equal(r.out.exit_code, 1);
}

static void
test_restart_running(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	come_up(&r);
	r.now += 500;
	assert_int_equal(ev(&r, EV_RESTART), SV_TERM | SV_CHANGED);
	assert_string_equal(r.out.msg, "restarting ssh on request");
	assert_int_equal(r.sv.state, SV_STOPPING);
	/* Even a quick death restarts at once: we asked for it. */
	r.now += 20;
	assert_int_equal(ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL),
	    SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.state, SV_CONNECTING);
	assert_int_equal(r.sv.starts, 2);
	assert_non_null(strstr(r.out.msg, "; restarting now"));
	/* In CONNECTING too. */
	assert_int_equal(ev(&r, EV_RESTART), SV_TERM | SV_CHANGED);
	/* ssh ignores SIGTERM: SIGKILL, then the restart. */
	assert_int_equal(at_deadline(&r), SV_KILL);
	r.now += 5;
	assert_int_equal(ssh_exit(&r, KILLED(SIGKILL), CAUSE_NONE, NULL),
	    SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.starts, 3);
}

static void
test_restart_backoff(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.backoff_max_ms = 3600 * SEC;
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	assert_int_equal(ev(&r, EV_RESTART), SV_SPAWN | SV_CHANGED);
	assert_string_equal(r.out.msg, "retrying now on request");
	assert_int_equal(r.sv.state, SV_CONNECTING);
	assert_int_equal(r.sv.starts, 2);
	assert_true(sv_deadline(&r.sv) == NEVER);
}

static void
test_retry_now(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	int k;

	(void)state;
	p.backoff_max_ms = 3600 * SEC;
	start(&r, &p, 1);
	first_spawn(&r);
	/* A long series, so the wait is long. */
	for (k = 0; k < 12; k++) {
		r.now += 100;
		ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
		if (k < 11)
			at_deadline(&r);
	}
	assert_int_equal(r.sv.state, SV_BACKOFF);
	r.now += 1;
	assert_int_equal(ev(&r, EV_RETRY_NOW), SV_SPAWN | SV_CHANGED);
	assert_string_equal(r.out.msg, "retrying now on request");
	assert_int_equal(r.sv.state, SV_CONNECTING);
	/* SIGHUP does not touch a running ssh. */
	assert_int_equal(ev(&r, EV_RETRY_NOW), 0);
	come_up(&r);
	assert_int_equal(ev(&r, EV_RETRY_NOW), 0);
	assert_int_equal(r.sv.state, SV_UP);
}

static void
test_net_change(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	p.backoff_max_ms = 3600 * SEC;
	start(&r, &p, 1);
	first_spawn(&r);
	/* Connecting, no TCP connection yet: restart it at once. */
	r.now += 100;
	assert_int_equal(ev(&r, EV_NET_CHANGE), SV_TERM | SV_CHANGED);
	assert_string_equal(r.out.msg,
	    "network changed while connecting; restarting ssh");
	r.now += 10;
	assert_int_equal(ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL),
	    SV_SPAWN | SV_CHANGED);
	/* Connecting with the transport up: leave it alone. */
	ev(&r, EV_TRANSPORT);
	assert_int_equal(ev(&r, EV_NET_CHANGE), 0);
	assert_int_equal(r.sv.state, SV_CONNECTING);
	/* Up: leave it alone. */
	ev(&r, EV_UP);
	assert_int_equal(ev(&r, EV_NET_CHANGE), 0);
	assert_int_equal(r.sv.state, SV_UP);
	/* Backing off: cut the wait short. */
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	assert_int_equal(ev(&r, EV_NET_CHANGE), SV_SPAWN | SV_CHANGED);
	assert_string_equal(r.out.msg, "network changed; retrying now");
	/* A new ssh starts without the old one's transport. */
	assert_int_equal(r.sv.transport, 0);
	assert_int_equal(ev(&r, EV_NET_CHANGE), SV_TERM | SV_CHANGED);
}

static void
test_link_lost(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	come_up(&r);
	r.now += HOUR;
	assert_int_equal(ev_reason(&r, EV_LINK_LOST,
	    "local address 192.0.2.7 is gone"), SV_TERM | SV_CHANGED);
	assert_int_equal(r.out.level, LOG_LVL_WARNING);
	assert_string_equal(r.out.msg,
	    "local address 192.0.2.7 is gone; restarting ssh");
	r.now += 50;
	/* It lived an hour: restart at once. */
	assert_int_equal(ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL),
	    SV_SPAWN | SV_CHANGED);
	/* A quick one backs off as any quick failure would. */
	r.now += 100;
	assert_int_equal(ev_reason(&r, EV_LINK_LOST, NULL),
	    SV_TERM | SV_CHANGED);
	assert_string_equal(r.out.msg, "connection lost; restarting ssh");
	r.now += 10;
	assert_int_equal(ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL),
	    SV_CHANGED);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	/* No ssh: nothing to lose. */
	assert_int_equal(ev(&r, EV_LINK_LOST), 0);
	assert_int_equal(r.sv.state, SV_BACKOFF);
}

static void
test_spawn_failed(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	char want[256], dur[32];

	(void)state;
	start(&r, &p, 9);
	first_spawn(&r);
	assert_int_equal(ev_reason(&r, EV_SPAWN_FAILED,
	    "/usr/bin/ssh: Resource temporarily unavailable"), SV_CHANGED);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	assert_int_equal(r.out.level, LOG_LVL_ERR);
	fmt_duration(r.sv.retry_ms - r.now, dur, sizeof(dur));
	snprintf(want, sizeof(want), "unable to start ssh: /usr/bin/ssh: "
	    "Resource temporarily unavailable; retry in %s", dur);
	assert_string_equal(r.out.msg, want);
	assert_string_equal(r.sv.last_reason,
	    "/usr/bin/ssh: Resource temporarily unavailable");
	assert_int_equal(at_deadline(&r), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.starts, 2);
	/* Outside CONNECTING it means nothing. */
	come_up(&r);
	assert_int_equal(ev_reason(&r, EV_SPAWN_FAILED, "x"), 0);
	assert_int_equal(r.sv.state, SV_UP);
}

static void
test_stray_child_exit(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_NONE, NULL), 0);
	first_spawn(&r);
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_NONE, NULL);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	/* No ssh runs in BACKOFF: an exit event is not ours. */
	assert_int_equal(ssh_exit(&r, EXITED(0), CAUSE_NONE, NULL), 0);
	assert_int_equal(r.sv.state, SV_BACKOFF);
}

static void
test_deadlines(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	assert_true(sv_deadline(&r.sv) == NEVER);
	first_spawn(&r);
	assert_true(sv_deadline(&r.sv) == NEVER);
	come_up(&r);
	assert_true(sv_deadline(&r.sv) == NEVER);
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_NONE, NULL);
	assert_true(sv_deadline(&r.sv) == r.sv.retry_ms);
	at_deadline(&r);
	ev(&r, EV_STOP);
	assert_true(sv_deadline(&r.sv) == r.now + p.kill_grace_ms);
	ssh_exit(&r, EXITED(0), CAUSE_NONE, NULL);
	assert_true(sv_deadline(&r.sv) == NEVER);

	/* With a lifetime, the earlier of the two. */
	p.maxlifetime_ms = 2 * SEC;
	p.kill_grace_ms = 60 * SEC;
	start(&r, &p, 1);
	assert_true(sv_deadline(&r.sv) == r.now + 2 * SEC);
	first_spawn(&r);
	ev(&r, EV_RESTART);
	assert_true(sv_deadline(&r.sv) == r.now + 2 * SEC);
	/* Stopping for good: the lifetime no longer matters. */
	ev(&r, EV_STOP);
	assert_true(sv_deadline(&r.sv) == r.now + 60 * SEC);
}

static void
test_state_names(void **state)
{
	(void)state;
	assert_string_equal(sv_state_name(SV_STARTING), "starting");
	assert_string_equal(sv_state_name(SV_CONNECTING), "connecting");
	assert_string_equal(sv_state_name(SV_UP), "up");
	assert_string_equal(sv_state_name(SV_BACKOFF), "backing off");
	assert_string_equal(sv_state_name(SV_STOPPING), "stopping");
	assert_string_equal(sv_state_name(SV_WAITING), "awaiting slot");
	assert_string_equal(sv_state_name(SV_EXITED), "exited");
}

static void
test_long_reason_is_bounded(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	char why[2000];

	(void)state;
	memset(why, 'a', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	start(&r, &p, 1);
	first_spawn(&r);
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, why);
	assert_true(strlen(r.out.msg) < sizeof(r.out.msg));
	assert_int_equal(strlen(r.sv.last_reason),
	    sizeof(r.sv.last_reason) - 1);
}

/* ---- DESIGN.md §Handshake slots ---- */

static struct sv_policy
slot_policy(void)
{
	struct sv_policy p = policy();

	p.slot_wait_ms = 100;
	return p;
}

/* EV_START with slots: ask, get one, start; the slot goes at auth. */
static void
slot_start(struct run *r)
{
	assert_int_equal(ev(r, EV_START), SV_TAKE_SLOT);
	assert_int_equal(r->sv.state, SV_WAITING);
	assert_int_equal(r->sv.starts, 0);
	assert_int_equal(ev(r, EV_SLOT_TAKEN), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r->sv.state, SV_CONNECTING);
	assert_int_equal(r->sv.starts, 1);
	assert_true(r->sv.slot_held);
	assert_string_equal(r->out.msg, "");
}

static void
test_slot_free(void **state)
{
	struct sv_policy p = slot_policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	slot_start(&r);
	r.now += 800;
	assert_int_equal(ev(&r, EV_TRANSPORT), 0);
	assert_int_equal(ev(&r, EV_AUTHENTICATED), SV_RELEASE_SLOT);
	assert_false(r.sv.slot_held);
	/* Released once only. */
	assert_int_equal(ev(&r, EV_AUTHENTICATED), 0);
	assert_int_equal(ev(&r, EV_UP), SV_READY | SV_CHANGED);
	/* A long run ends: restart at once, through a slot again. */
	r.now += HOUR;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL),
	    SV_TAKE_SLOT);
	assert_string_equal(r.out.msg, "ssh exited with status 255 after "
	    "1h00m; restarting now");
	assert_int_equal(ev(&r, EV_SLOT_TAKEN), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.starts, 2);
}

static void
test_slot_busy(void **state)
{
	struct sv_policy p = slot_policy();
	struct run r;
	int64_t t0, d;
	int i;

	(void)state;
	start(&r, &p, 7);
	assert_int_equal(ev(&r, EV_START), SV_TAKE_SLOT);
	/* Every slot held: now the wait is published, with a debug line. */
	assert_int_equal(ev(&r, EV_SLOT_BUSY), SV_CHANGED);
	assert_int_equal(r.sv.state, SV_WAITING);
	assert_string_equal(sv_state_name(r.sv.state), "awaiting slot");
	assert_int_equal(r.out.level, LOG_LVL_DEBUG);
	assert_non_null(strstr(r.out.msg, "every handshake slot"));
	t0 = r.now;
	d = sv_deadline(&r.sv);
	assert_true(d >= t0 + 50 && d <= t0 + 150);
	/* Asked again at the deadline; still busy: quiet. */
	assert_int_equal(at_deadline(&r), SV_TAKE_SLOT);
	assert_int_equal(ev(&r, EV_SLOT_BUSY), 0);
	assert_string_equal(r.out.msg, "");
	assert_true(r.sv.since_ms == t0);
	/* Past 12 s of waiting, ten times slower. */
	while (r.now < t0 + 12 * SEC) {
		assert_int_equal(at_deadline(&r), SV_TAKE_SLOT);
		assert_int_equal(ev(&r, EV_SLOT_BUSY), 0);
	}
	for (i = 0; i < 20; i++) {
		d = sv_deadline(&r.sv) - r.now;
		assert_true(d >= 500 && d <= 1500);
		assert_int_equal(at_deadline(&r), SV_TAKE_SLOT);
		assert_int_equal(ev(&r, EV_SLOT_BUSY), 0);
	}
	assert_int_equal(r.sv.starts, 0);
	assert_int_equal(ev(&r, EV_SLOT_TAKEN), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.out.level, LOG_LVL_DEBUG);
	assert_non_null(strstr(r.out.msg, "got a handshake slot after"));
	assert_int_equal(r.sv.state, SV_CONNECTING);
	assert_true(r.sv.since_ms == r.now);
}

/* What each event does while waiting for a slot. */
struct slot_row {
	const char		*name;
	enum sv_event_type	 type;
	unsigned		 want;
	enum sv_state		 then;
};

static const struct slot_row slot_rows[] = {
	{ "EV_STOP: exit now", EV_STOP, SV_EXIT | SV_CHANGED, SV_EXITED },
	{ "EV_RESTART: ask again now", EV_RESTART, SV_TAKE_SLOT,
	    SV_WAITING },
	{ "EV_RETRY_NOW: ask again now", EV_RETRY_NOW, SV_TAKE_SLOT,
	    SV_WAITING },
	{ "EV_NET_CHANGE: ask again now", EV_NET_CHANGE, SV_TAKE_SLOT,
	    SV_WAITING },
	{ "EV_CHILD_EXIT: ignored", EV_CHILD_EXIT, 0, SV_WAITING },
	{ "EV_UP: ignored", EV_UP, 0, SV_WAITING },
	{ "EV_TRANSPORT: ignored", EV_TRANSPORT, 0, SV_WAITING },
	{ "EV_AUTHENTICATED: ignored", EV_AUTHENTICATED, 0, SV_WAITING },
	{ "EV_LINK_LOST: ignored", EV_LINK_LOST, 0, SV_WAITING },
	{ "EV_SPAWN_FAILED: ignored", EV_SPAWN_FAILED, 0, SV_WAITING },
	{ "EV_SLOT_BUSY again: quiet", EV_SLOT_BUSY, 0, SV_WAITING },
	{ "EV_START: ignored", EV_START, 0, SV_WAITING },
};

static void
test_slot_row(void **state)
{
	const struct slot_row *row = *state;
	struct sv_policy p = slot_policy();
	struct run r;

	start(&r, &p, 1);
	ev(&r, EV_START);
	ev(&r, EV_SLOT_BUSY);
	r.now += 30;
	assert_int_equal(ev(&r, row->type), row->want);
	assert_int_equal(r.sv.state, row->then);
	assert_int_equal(r.sv.starts, 0);
	assert_false(r.sv.slot_held);
	if (row->then == SV_EXITED)
		assert_int_equal(r.out.exit_code, 1);
}

/* The slot is let go however the unauthenticated phase ends. */
static void
test_slot_release(void **state)
{
	struct sv_policy p = slot_policy();
	struct run r;

	(void)state;
	/* ssh exits before authenticating: release and back off. */
	start(&r, &p, 1);
	slot_start(&r);
	r.now += 300;
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT,
	    "Connection closed by 10.0.0.1 port 22"),
	    SV_RELEASE_SLOT | SV_CHANGED);
	assert_int_equal(r.sv.state, SV_BACKOFF);
	assert_false(r.sv.slot_held);
	/* The back-off's end asks for a slot, not for ssh. */
	assert_int_equal(at_deadline(&r), SV_TAKE_SLOT);
	assert_int_equal(ev(&r, EV_SLOT_TAKEN), SV_SPAWN | SV_CHANGED);

	/* fork or exec failed. */
	r.now += 100;
	assert_int_equal(ev_reason(&r, EV_SPAWN_FAILED, "ssh: ENOENT"),
	    SV_RELEASE_SLOT | SV_CHANGED);
	assert_false(r.sv.slot_held);

	/* Up without ssh's milestones (the monitor or the fallback). */
	start(&r, &p, 1);
	slot_start(&r);
	r.now += 2 * SEC;
	assert_int_equal(ev(&r, EV_UP), SV_RELEASE_SLOT | SV_READY |
	    SV_CHANGED);

	/* Stopped while connecting: held until ssh is gone. */
	start(&r, &p, 1);
	slot_start(&r);
	assert_int_equal(ev(&r, EV_STOP), SV_TERM | SV_CHANGED);
	assert_true(r.sv.slot_held);
	assert_int_equal(ssh_exit(&r, EXITED(0), CAUSE_NONE, NULL),
	    SV_RELEASE_SLOT | SV_EXIT | SV_CHANGED);

	/* A slot arriving when nothing waits for it goes straight back. */
	start(&r, &p, 1);
	assert_int_equal(ev(&r, EV_SLOT_TAKEN), SV_RELEASE_SLOT);
	assert_int_equal(r.sv.state, SV_STARTING);
}

/* Slot files that cannot be used: start without a slot. */
static void
test_slot_unusable(void **state)
{
	struct sv_policy p = slot_policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	assert_int_equal(ev(&r, EV_START), SV_TAKE_SLOT);
	assert_int_equal(ev(&r, EV_SLOT_NONE), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.state, SV_CONNECTING);
	assert_int_equal(r.sv.starts, 1);
	assert_false(r.sv.slot_held);
	/* Nothing held, nothing to let go. */
	assert_int_equal(ev(&r, EV_AUTHENTICATED), 0);
	/* Not waiting: ignored. */
	assert_int_equal(ev(&r, EV_SLOT_NONE), 0);
	/* After a busy answer, too. */
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
	assert_int_equal(at_deadline(&r), SV_TAKE_SLOT);
	ev(&r, EV_SLOT_BUSY);
	assert_int_equal(at_deadline(&r), SV_TAKE_SLOT);
	assert_int_equal(ev(&r, EV_SLOT_NONE), SV_SPAWN | SV_CHANGED);
	assert_int_equal(r.sv.starts, 2);
}

/* Without slots (no state directory) nothing changes. */
static void
test_slot_none(void **state)
{
	struct sv_policy p = policy();
	struct run r;

	(void)state;
	start(&r, &p, 1);
	first_spawn(&r);
	assert_int_equal(ev(&r, EV_AUTHENTICATED), 0);
	assert_int_equal(ev(&r, EV_SLOT_BUSY), 0);
	assert_int_equal(r.sv.state, SV_CONNECTING);
}

/* MAXSTART is checked before a slot is asked for. */
static void
test_slot_maxstart(void **state)
{
	struct sv_policy p = slot_policy();
	struct run r;

	(void)state;
	p.maxstart = 1;
	start(&r, &p, 1);
	slot_start(&r);
	r.now += 100;
	/* Exits at once: no slot is asked for a start never made. */
	assert_int_equal(ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL),
	    SV_RELEASE_SLOT | SV_EXIT | SV_CHANGED);
	assert_int_equal(r.out.exit_code, 0);
}

static void
test_slot_maxlifetime(void **state)
{
	struct sv_policy p = slot_policy();
	struct run r;

	(void)state;
	p.maxlifetime_ms = 10 * SEC;
	start(&r, &p, 1);
	ev(&r, EV_START);
	ev(&r, EV_SLOT_BUSY);
	while (r.sv.state == SV_WAITING) {
		if (at_deadline(&r) == SV_TAKE_SLOT)
			ev(&r, EV_SLOT_BUSY);
	}
	assert_int_equal(r.sv.state, SV_EXITED);
	assert_int_equal(r.sv.exit_code, 0);
	assert_true(r.now == 1000000 + 10 * SEC);
}

static void
test_slot_wait_ms(void **state)
{
	struct sv_policy p = slot_policy();
	uint64_t rng = 42;
	int64_t w, lo = 1000, hi = 0;
	int i;

	(void)state;
	for (i = 0; i < 10000; i++) {
		w = sv_slot_wait_ms(&p, 0, &rng);
		lo = w < lo ? w : lo;
		hi = w > hi ? w : hi;
		assert_true(w >= 50 && w <= 150);
		w = sv_slot_wait_ms(&p, 11999, &rng);
		assert_true(w >= 50 && w <= 150);
		w = sv_slot_wait_ms(&p, 12000, &rng);
		assert_true(w >= 500 && w <= 1500);
	}
	/* The jitter covers its range. */
	assert_true(lo <= 52 && hi >= 148);
}

/*
 * ---- decisions the loop used to make: outages, evictions, stalled
 * links and settled network changes (DESIGN.md §Stale sessions,
 * §Network events), one row each ----
 */

enum path {
	PATH_CONNECTING,	/* first ssh started, no transport */
	PATH_CONNECTING_TCP,	/* ... with its transport */
	PATH_UP,		/* up an hour, transport from a new port */
	PATH_BACKOFF,		/* first ssh failed quickly */
	PATH_OUTAGE_1,		/* up an hour, lost, first new ssh started
				   and connected from the old port */
	PATH_OUTAGE_2,		/* ... the first new ssh failed, the second
				   connected from the old port */
	PATH_OUTAGE_SPAWN_FAILED, /* ... the first start failed to fork,
				   the next connected from the old port */
};

struct decision_row {
	const char	*name;
	enum path	 path;
	int		 rfwd;		/* policy.remote_forwards */
	int		 reused;	/* EV_TRANSPORT's port_reused */
	enum sv_event_type type;
	int		 wstatus;	/* EV_CHILD_EXIT */
	const char	*what;		/* EV_NET_CHANGE's reason */
	int		 stalled;	/* EV_NET_CHANGE */
	unsigned	 actions;
	enum sv_state	 state;
	enum sv_after	 after;		/* checked in SV_STOPPING */
	const char	*msg;
	const char	*msg2;
	int		 outage;	/* outage.active afterwards */
	int		 tries;		/* outage.tries afterwards */
	int		 lost_now;	/* outage.lost_ms is the event's now */
	int		 evictions;
};

#define EVICTED	"remote forwards back at the first try after the outage: " \
	"reconnected from the previous local port, so the server's stale " \
	"session was cleared"

static const struct decision_row decision_rows[] = {
	{ "ssh of an up tunnel exits: an outage begins", PATH_UP, 1, 0,
	    EV_CHILD_EXIT, EXITED(255), NULL, 0, SV_SPAWN | SV_CHANGED,
	    SV_CONNECTING, 0, "ssh exited with status 255 after 1h00m; "
	    "restarting now", "", 1, 1, 1, 0 },
	{ "ssh exits while connecting: no outage", PATH_CONNECTING, 1, 0,
	    EV_CHILD_EXIT, EXITED(255), NULL, 0, SV_CHANGED, SV_BACKOFF, 0,
	    NULL, "", 0, 0, 0, 0 },
	{ "up at the first try from the old port with -R: eviction",
	    PATH_OUTAGE_1, 1, 1, EV_UP, 0, NULL, 0, SV_CHANGED, SV_UP, 0,
	    "tunnel up after 2.0 s", EVICTED, 0, 0, 0, 1 },
	{ "up at the first try from a new port: no eviction",
	    PATH_OUTAGE_1, 1, 0, EV_UP, 0, NULL, 0, SV_CHANGED, SV_UP, 0,
	    "tunnel up after 2.0 s", "", 0, 0, 0, 0 },
	{ "up at the first try without -R: no eviction", PATH_OUTAGE_1, 0,
	    1, EV_UP, 0, NULL, 0, SV_CHANGED, SV_UP, 0,
	    "tunnel up after 2.0 s", "", 0, 0, 0, 0 },
	{ "up at the second try from the old port: no eviction",
	    PATH_OUTAGE_2, 1, 1, EV_UP, 0, NULL, 0, SV_CHANGED, SV_UP, 0,
	    "tunnel up after 2.0 s", "", 0, 0, 0, 0 },
	{ "a start that failed to fork is no try: eviction",
	    PATH_OUTAGE_SPAWN_FAILED, 1, 1, EV_UP, 0, NULL, 0, SV_CHANGED,
	    SV_UP, 0, "tunnel up after 2.0 s", EVICTED, 0, 0, 0, 1 },
	{ "link lost in the outage's first try: the outage goes on",
	    PATH_OUTAGE_1, 1, 1, EV_LINK_LOST, 0, NULL, 0,
	    SV_TERM | SV_CHANGED, SV_STOPPING, AFTER_RESTART_POLICY,
	    "connection lost; restarting ssh", "", 1, 1, 0, 0 },
	{ "network settles, up and stalled: link lost", PATH_UP, 1, 0,
	    EV_NET_CHANGE, 0, "wlan0 down", 1, SV_TERM | SV_CHANGED,
	    SV_STOPPING, AFTER_RESTART_POLICY, "network changed (wlan0 "
	    "down) while the connection was stalled; restarting ssh", "", 0,
	    0, 0, 0 },
	{ "network settles, up and not stalled: nothing", PATH_UP, 1, 0,
	    EV_NET_CHANGE, 0, "wlan0 down", 0, 0, SV_UP, 0, "", "", 0, 0, 0,
	    0 },
	{ "network settles, backing off: said, retry now", PATH_BACKOFF, 1,
	    0, EV_NET_CHANGE, 0, "address 192.0.2.9 added", 0,
	    SV_SPAWN | SV_CHANGED, SV_CONNECTING, 0, "network changed: "
	    "address 192.0.2.9 added", "network changed; retrying now", 0, 0,
	    0, 0 },
	{ "network settles, connecting without TCP: said, restart",
	    PATH_CONNECTING, 1, 0, EV_NET_CHANGE, 0, "route added", 1,
	    SV_TERM | SV_CHANGED, SV_STOPPING, AFTER_RESTART_NOW,
	    "network changed: route added", "network changed while "
	    "connecting; restarting ssh", 0, 0, 0, 0 },
	{ "network settles, connecting with TCP: said only",
	    PATH_CONNECTING_TCP, 1, 0, EV_NET_CHANGE, 0, "route added", 1, 0,
	    SV_CONNECTING, 0, "network changed: route added", "", 0, 0, 0,
	    0 },
};

static void
transport(struct run *r, int reused)
{
	struct sv_event e;

	memset(&e, 0, sizeof(e));
	e.type = EV_TRANSPORT;
	e.port_reused = reused;
	handle(r, &e);
}

/* Up an hour, then the link is lost and ssh is restarted at once. */
static void
outage(struct run *r)
{
	first_spawn(r);
	r->now += 2 * SEC;
	transport(r, 0);
	ev(r, EV_UP);
	r->now += HOUR;
	ssh_exit(r, EXITED(255), CAUSE_TRANSIENT, NULL);
	assert_int_equal(r->sv.state, SV_CONNECTING);
	assert_true(r->sv.outage.active);
}

static void
walk(struct run *r, const struct decision_row *row)
{
	switch (row->path) {
	case PATH_CONNECTING:
		first_spawn(r);
		break;
	case PATH_CONNECTING_TCP:
		first_spawn(r);
		transport(r, 0);
		break;
	case PATH_UP:
		first_spawn(r);
		r->now += 2 * SEC;
		transport(r, 0);
		ev(r, EV_UP);
		r->now += HOUR - 2 * SEC;
		break;
	case PATH_BACKOFF:
		first_spawn(r);
		r->now += 100;
		ssh_exit(r, EXITED(255), CAUSE_TRANSIENT, NULL);
		break;
	case PATH_OUTAGE_1:
		outage(r);
		r->now += 2 * SEC;
		transport(r, row->reused);
		break;
	case PATH_OUTAGE_2:
		outage(r);
		r->now += 100;
		ssh_exit(r, EXITED(255), CAUSE_TRANSIENT, NULL);
		at_deadline(r);
		assert_int_equal(r->sv.state, SV_CONNECTING);
		r->now += 2 * SEC;
		transport(r, row->reused);
		break;
	case PATH_OUTAGE_SPAWN_FAILED:
		outage(r);
		ev_reason(r, EV_SPAWN_FAILED, "ssh: EAGAIN");
		at_deadline(r);
		assert_int_equal(r->sv.state, SV_CONNECTING);
		r->now += 2 * SEC;
		transport(r, row->reused);
		break;
	}
}

static void
test_decision_row(void **state)
{
	const struct decision_row *row = *state;
	struct sv_policy p = policy();
	struct sv_event e;
	struct run r;

	p.remote_forwards = row->rfwd;
	start(&r, &p, 1);
	walk(&r, row);
	memset(&e, 0, sizeof(e));
	e.type = row->type;
	e.wstatus = row->wstatus;
	e.cause = CAUSE_TRANSIENT;
	e.reason = row->what;
	e.stalled = row->stalled;
	assert_int_equal(handle(&r, &e), row->actions);
	assert_int_equal(r.sv.state, row->state);
	if (row->state == SV_STOPPING)
		assert_int_equal(r.sv.after, row->after);
	if (row->msg != NULL)
		assert_string_equal(r.out.msg, row->msg);
	assert_string_equal(r.out.msg2, row->msg2);
	assert_int_equal(r.sv.outage.active, row->outage);
	if (row->outage)
		assert_int_equal(r.sv.outage.tries, row->tries);
	else
		assert_true(r.sv.outage.lost_ms == NEVER || row->type !=
		    EV_UP);
	if (row->lost_now)
		assert_true(r.sv.outage.lost_ms == r.now);
	assert_int_equal(r.sv.outage.evictions, row->evictions);
}

/* The outage's start is kept across failed tries, for the helper. */
static void
test_outage_lost_ms(void **state)
{
	struct sv_policy p = policy();
	struct run r;
	int64_t lost;

	(void)state;
	start(&r, &p, 1);
	assert_true(r.sv.outage.lost_ms == NEVER);
	outage(&r);
	lost = r.now;
	assert_true(r.sv.outage.lost_ms == lost);
	r.now += 100;
	ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
	at_deadline(&r);
	assert_true(r.sv.outage.lost_ms == lost);
	assert_int_equal(r.sv.outage.tries, 2);
	/* Stopped on request: no new outage, the old one goes on. */
	r.now += 100;
	ev(&r, EV_RESTART);
	ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL);
	assert_true(r.sv.outage.lost_ms == lost);
	assert_int_equal(r.sv.outage.tries, 3);
	r.now += 2 * SEC;
	ev(&r, EV_UP);
	assert_false(r.sv.outage.active);
	assert_true(r.sv.outage.lost_ms == NEVER);
	/* Up and stopped on request: not an outage. */
	ev(&r, EV_RESTART);
	ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL);
	assert_false(r.sv.outage.active);
	/* Up and stopped for a lost link: an outage. */
	r.now += 2 * SEC;
	ev(&r, EV_UP);
	ev_reason(&r, EV_LINK_LOST, "monitor failed");
	r.now += 10;
	ssh_exit(&r, KILLED(SIGTERM), CAUSE_NONE, NULL);
	assert_true(r.sv.outage.active);
	assert_true(r.sv.outage.lost_ms == r.now);
}

/* ---- DESIGN.md §Fallbacks ---- */

enum fb_op {
	FB_END,
	FB_QUICK_EXIT,		/* 300 ms on, ssh exits 255 (refused) */
	FB_LONG_EXIT,		/* 2 min on, ssh exits 255 */
	FB_UP,			/* 2 s on, the tunnel is up */
	FB_DEADLINE,		/* at sv_deadline(), EV_TIMEOUT */
	FB_PROBE_OK,
	FB_PROBE_FAIL,
	FB_LINK_LOST,
};

struct fb_step {
	enum fb_op	 op;
	unsigned	 actions;	/* expected; SV_CHANGED and SV_READY
					   ignored */
	int		 dest;		/* expected sv.dest afterwards */
};

struct fb_row {
	const char	*name;
	int		 ndest;
	struct fb_step	 steps[12];
	const char	*reason;	/* expected dest_reason at the end */
	int64_t		 probe_in_ms;	/* expected probe_ms - now; -1: NEVER */
};

static const struct fb_row fb_rows[] = {
	{ "no fallback: two quick failures back off as before", 1, {
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 } }, "primary", -1 },
	{ "one quick failure stays on the primary", 2, {
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 } }, "primary", -1 },
	{ "two quick failures: the fallback starts at once", 2, {
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 1 } },
	    "fallback: primary failed twice: ssh: connect to host h port 22: "
	    "Connection refused", 60 * SEC },
	{ "a long run between failures resets the count", 2, {
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_UP, 0, 0 },
	    { FB_LONG_EXIT, SV_SPAWN, 0 },
	    { FB_QUICK_EXIT, 0, 0 } }, "primary", -1 },
	{ "a session dying quickly twice counts (link lost)", 2, {
	    { FB_UP, 0, 0 },
	    { FB_LINK_LOST, SV_TERM, 0 },
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_UP, 0, 0 },
	    { FB_LINK_LOST, SV_TERM, 0 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 1 } },
	    "fallback: primary failed twice: ssh: connect to host h port 22: "
	    "Connection refused", 60 * SEC },
	{ "on the fallback: probe due after a minute, none while one runs", 2,
	    { { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 1 },
	    { FB_UP, 0, 1 },
	    { FB_DEADLINE, SV_PROBE, 1 },
	    { FB_PROBE_FAIL, 0, 1 },
	    { FB_DEADLINE, SV_PROBE, 1 } },
	    "fallback: primary failed twice: ssh: connect to host h port 22: "
	    "Connection refused", 60 * SEC },
	{ "the primary answers while up on the fallback: replace ssh", 2, {
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 1 },
	    { FB_UP, 0, 1 },
	    { FB_DEADLINE, SV_PROBE, 1 },
	    { FB_PROBE_OK, SV_SWITCH | SV_TERM, 0 },
	    { FB_QUICK_EXIT, SV_SPAWN, 0 },
	    { FB_UP, 0, 0 } }, "back to primary: it answered", -1 },
	{ "the primary answers during a back-off: start it now", 2, {
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 1 },
	    { FB_QUICK_EXIT, 0, 1 },
	    { FB_PROBE_OK, SV_SWITCH | SV_SPAWN, 0 } },
	    "back to primary: it answered", -1 },
	{ "the last fallback failing twice wraps to the primary", 2, {
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 1 },
	    { FB_QUICK_EXIT, 0, 1 },
	    { FB_DEADLINE, SV_SPAWN, 1 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 0 } },
	    "primary: fallback failed twice: ssh: connect to host h port 22: "
	    "Connection refused", -1 },
	{ "with two fallbacks, the first moves on to the second", 3, {
	    { FB_QUICK_EXIT, 0, 0 },
	    { FB_DEADLINE, SV_SPAWN, 0 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 1 },
	    { FB_QUICK_EXIT, 0, 1 },
	    { FB_DEADLINE, SV_SPAWN, 1 },
	    { FB_QUICK_EXIT, SV_SWITCH | SV_SPAWN, 2 } },
	    "fallback: fallback failed twice: ssh: connect to host h port 22: "
	    "Connection refused", 60 * SEC },
	{ "a late probe answer on the primary is ignored", 2, {
	    { FB_PROBE_OK, 0, 0 } }, "primary", -1 },
};

static void
test_fallback_row(void **state)
{
	const struct fb_row *row = *state;
	struct sv_policy p = policy();
	const struct fb_step *st;
	struct run r;
	unsigned a = 0;

	p.ndest = row->ndest;
	p.probe_every_ms = 60 * SEC;
	p.no_session = 1;
	start(&r, &p, 3);
	first_spawn(&r);
	for (st = row->steps; st->op != FB_END; st++) {
		switch (st->op) {
		case FB_QUICK_EXIT:
			r.now += 300;
			a = ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT,
			    "ssh: connect to host h port 22: Connection "
			    "refused");
			break;
		case FB_LONG_EXIT:
			r.now += 2 * MIN;
			a = ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT,
			    "Broken pipe");
			break;
		case FB_UP:
			r.now += 2 * SEC;
			a = ev(&r, EV_UP);
			break;
		case FB_DEADLINE:
			a = at_deadline(&r);
			break;
		case FB_PROBE_OK:
			r.now += 5;
			a = ev(&r, EV_PROBE_OK);
			break;
		case FB_PROBE_FAIL:
			r.now += 5;
			a = ev_reason(&r, EV_PROBE_FAIL, "refused");
			/* The next probe is a minute after the last began. */
			assert_true(r.sv.probe_ms > r.now);
			assert_true(sv_deadline(&r.sv) == r.sv.probe_ms);
			break;
		case FB_LINK_LOST:
			r.now += 1 * SEC;
			a = ev_reason(&r, EV_LINK_LOST, "link lost");
			break;
		case FB_END:
			break;
		}
		assert_int_equal(a & ~(unsigned)(SV_CHANGED | SV_READY),
		    st->actions);
		assert_int_equal(r.sv.dest, st->dest);
		/* A probe is never due twice while one is unanswered. */
		if (st->actions & SV_PROBE) {
			assert_int_equal(ev(&r, EV_TIMEOUT) & SV_PROBE, 0);
			assert_true(sv_deadline(&r.sv) != r.sv.probe_ms ||
			    r.sv.probe_ms == NEVER);
		}
	}
	assert_string_equal(r.sv.dest_reason, row->reason);
	if (row->probe_in_ms < 0)
		assert_true(r.sv.probe_ms == NEVER || r.sv.dest == 0);
	else
		assert_true(r.sv.probe_ms - r.now == row->probe_in_ms);
}

/* ---- the session's edges, which forward checks follow ---- */

enum from {
	FROM_CONNECTING,	/* the first ssh runs */
	FROM_UP,		/* up an hour */
	FROM_BACKOFF,		/* the first ssh failed quickly */
	FROM_STOPPING,		/* up, then SIGUSR1: stopping to restart */
};

struct edge_row {
	const char	*name;
	enum from	 from;
	enum sv_event_type type;	/* EV_TIMEOUT: at sv_deadline() */
	int		 wstatus;	/* EV_CHILD_EXIT */
	int		 stalled;	/* EV_NET_CHANGE */
	int64_t		 up_after_ms;
	int64_t		 maxlifetime_ms;
	unsigned	 edge;		/* SV_UP_BEGAN, SV_UP_ENDED or 0 */
	enum sv_state	 state;
};

static const struct edge_row edge_rows[] = {
	{ "connecting, ssh says up: began", FROM_CONNECTING, EV_UP, 0, 0,
	    0, 0, SV_UP_BEGAN, SV_UP },
	{ "connecting, ran 10 s without milestones: began", FROM_CONNECTING,
	    EV_TIMEOUT, 0, 0, 10 * SEC, 0, SV_UP_BEGAN, SV_UP },
	{ "connecting, ssh exits: none", FROM_CONNECTING, EV_CHILD_EXIT,
	    EXITED(255), 0, 0, 0, 0, SV_BACKOFF },
	{ "connecting, stop: none", FROM_CONNECTING, EV_STOP, 0, 0, 0, 0, 0,
	    SV_STOPPING },
	{ "up, the monitor passes again: none", FROM_UP, EV_UP, 0, 0, 0, 0,
	    0, SV_UP },
	{ "up, authenticated: none", FROM_UP, EV_AUTHENTICATED, 0, 0, 0, 0,
	    0, SV_UP },
	{ "up, ssh exits: ended, though the next starts at once", FROM_UP,
	    EV_CHILD_EXIT, EXITED(255), 0, 0, 0, SV_UP_ENDED, SV_CONNECTING },
	{ "up, link lost: ended", FROM_UP, EV_LINK_LOST, 0, 0, 0, 0,
	    SV_UP_ENDED, SV_STOPPING },
	{ "up, stop: ended", FROM_UP, EV_STOP, 0, 0, 0, 0, SV_UP_ENDED,
	    SV_STOPPING },
	{ "up, SIGUSR1: ended", FROM_UP, EV_RESTART, 0, 0, 0, 0,
	    SV_UP_ENDED, SV_STOPPING },
	{ "up, network settles while stalled: ended", FROM_UP,
	    EV_NET_CHANGE, 0, 1, 0, 0, SV_UP_ENDED, SV_STOPPING },
	{ "up, network settles, not stalled: none", FROM_UP, EV_NET_CHANGE,
	    0, 0, 0, 0, 0, SV_UP },
	{ "up, MAXLIFETIME: ended", FROM_UP, EV_TIMEOUT, 0, 0, 0, 2 * HOUR,
	    SV_UP_ENDED, SV_STOPPING },
	{ "backing off, retry due: none", FROM_BACKOFF, EV_TIMEOUT, 0, 0, 0,
	    0, 0, SV_CONNECTING },
	{ "stopping after up, ssh gone: none", FROM_STOPPING, EV_CHILD_EXIT,
	    KILLED(SIGTERM), 0, 0, 0, 0, SV_CONNECTING },
};

static void
test_edge_row(void **state)
{
	const struct edge_row *row = *state;
	struct sv_policy p = policy();
	struct sv_event e;
	struct run r;

	p.up_after_ms = row->up_after_ms;
	p.maxlifetime_ms = row->maxlifetime_ms;
	start(&r, &p, 1);
	first_spawn(&r);
	switch (row->from) {
	case FROM_CONNECTING:
		break;
	case FROM_BACKOFF:
		r.now += 100;
		ssh_exit(&r, EXITED(255), CAUSE_TRANSIENT, NULL);
		assert_int_equal(r.sv.state, SV_BACKOFF);
		break;
	case FROM_UP:
	case FROM_STOPPING:
		come_up(&r);
		r.now += HOUR;
		if (row->from == FROM_STOPPING)
			ev(&r, EV_RESTART);
		break;
	}
	memset(&e, 0, sizeof(e));
	e.type = row->type;
	e.wstatus = row->wstatus;
	e.cause = CAUSE_TRANSIENT;
	e.reason = "x";
	e.stalled = row->stalled;
	if (row->type == EV_TIMEOUT) {
		assert_true(sv_deadline(&r.sv) != NEVER);
		r.now = sv_deadline(&r.sv);
	}
	sv_handle(&r.sv, &e, r.now, &r.out);
	assert_int_equal(r.out.actions & SV_EDGES, row->edge);
	assert_int_equal(r.sv.state, row->state);
}

int
main(void)
{
	static char names[sizeof(verdict_rows) / sizeof(verdict_rows[0])][128];
	static char snames[sizeof(slot_rows) / sizeof(slot_rows[0])][128];
	size_t i;

	for (i = 0; i < sizeof(verdict_rows) / sizeof(verdict_rows[0]); i++) {
		snprintf(names[i], sizeof(names[i]), "verdict: %s",
		    verdict_rows[i].name);
		add_test(names[i], test_verdict_row, (void *)&verdict_rows[i]);
	}
	add_test("EV_START spawns once", test_start, NULL);
	add_test("EV_UP: READY only the first time", test_up_and_ready, NULL);
	add_test("first start, permanent, within gate: exit 1",
	    test_first_start_within_gate_permanent, NULL);
	add_test("first start, permanent, after gate: restart",
	    test_first_start_after_gate_permanent, NULL);
	add_test("first start, transient: back off then spawn",
	    test_first_start_transient_backs_off, NULL);
	add_test("gate 0: first-start failures restart",
	    test_gate0_first_start_permanent_restarts, NULL);
	add_test("exit 0 after the gate with a command: exit 0",
	    test_exit_0_after_gate_with_command, NULL);
	add_test("exit 0 of ssh -N: restart", test_exit_0_no_session_restarts,
	    NULL);
	add_test("remote command's status: exit 1",
	    test_exit_remote_command_status, NULL);
	add_test("killed by a signal: log line", test_killed_by_signal_message,
	    NULL);
	add_test("exit 255: log line with reason and retry",
	    test_exit_255_log_line, NULL);
	add_test("long run: restart at once", test_long_run_restarts_at_once,
	    NULL);
	add_test("back-off series, max 60 s, many seeds",
	    test_backoff_series_default, NULL);
	add_test("back-off series, max 5 s, many seeds",
	    test_backoff_series_small_max, NULL);
	add_test("sv_backoff_ms caps and determinism", test_backoff_ms_direct,
	    NULL);
	add_test("back-off resets after a long run",
	    test_backoff_reset_after_long_run, NULL);
	add_test("long_enough boundary", test_long_enough_boundary, NULL);
	add_test("maxstart reached: exit 0", test_maxstart, NULL);
	add_test("maxstart after a long run and on SIGUSR1",
	    test_maxstart_after_long_run, NULL);
	add_test("maxlifetime: TERM, then exit 0", test_maxlifetime_running,
	    NULL);
	add_test("maxlifetime: KILL escalation", test_maxlifetime_kill, NULL);
	add_test("maxlifetime while backing off", test_maxlifetime_backoff,
	    NULL);
	add_test("EV_STOP connecting: TERM, KILL, exit",
	    test_stop_connecting, NULL);
	add_test("EV_STOP up: TERM, exit code", test_stop_up, NULL);
	add_test("EV_STOP backing off: exit now", test_stop_backoff, NULL);
	add_test("EV_STOP starting: exit now", test_stop_starting, NULL);
	add_test("EV_STOP while stopping for a restart",
	    test_stop_while_stopping_for_restart, NULL);
	add_test("EV_STOP while stopping for maxlifetime",
	    test_stop_after_maxlifetime_stop, NULL);
	add_test("EV_RESTART running", test_restart_running, NULL);
	add_test("EV_RESTART backing off", test_restart_backoff, NULL);
	add_test("EV_RETRY_NOW cuts a back-off short", test_retry_now, NULL);
	add_test("EV_NET_CHANGE in every state", test_net_change, NULL);
	add_test("EV_LINK_LOST", test_link_lost, NULL);
	add_test("EV_SPAWN_FAILED backs off", test_spawn_failed, NULL);
	add_test("stray EV_CHILD_EXIT is ignored", test_stray_child_exit,
	    NULL);
	add_test("sv_deadline", test_deadlines, NULL);
	add_test("sv_state_name", test_state_names, NULL);
	add_test("a long reason is bounded", test_long_reason_is_bounded,
	    NULL);
	add_test("slots: a free slot, released at authentication",
	    test_slot_free, NULL);
	add_test("slots: all held: wait, publish, ask again, slower later",
	    test_slot_busy, NULL);
	for (i = 0; i < sizeof(slot_rows) / sizeof(slot_rows[0]); i++) {
		snprintf(snames[i], sizeof(snames[i]), "slots: waiting, %s",
		    slot_rows[i].name);
		add_test(snames[i], test_slot_row, (void *)&slot_rows[i]);
	}
	add_test("slots: released at exit, spawn failure, up, stop",
	    test_slot_release, NULL);
	add_test("slots: none without a state directory", test_slot_none,
	    NULL);
	add_test("slots: unusable files: start without one",
	    test_slot_unusable, NULL);
	add_test("slots: MAXSTART before a slot", test_slot_maxstart, NULL);
	add_test("slots: MAXLIFETIME while waiting", test_slot_maxlifetime,
	    NULL);
	add_test("sv_slot_wait_ms range and jitter", test_slot_wait_ms, NULL);
	for (i = 0; i < NROWS(decision_rows); i++)
		add_test(pool_name("decision: %s", decision_rows[i].name),
		    test_decision_row, (void *)&decision_rows[i]);
	add_test("outage: its start is kept until up again",
	    test_outage_lost_ms, NULL);
	for (i = 0; i < NROWS(fb_rows); i++)
		add_test(pool_name("fallback: %s", fb_rows[i].name),
		    test_fallback_row, (void *)&fb_rows[i]);
	for (i = 0; i < NROWS(edge_rows); i++)
		add_test(pool_name("session edge: %s", edge_rows[i].name),
		    test_edge_row, (void *)&edge_rows[i]);
	return unit_run("test_supervise", NULL,
	    NULL);
}
