/*
 * Fuzz target: the state file reader behind `autossh --status`
 * (state_parse()), and its writer state_format() on what was read.
 *
 * Input: the file's bytes, of any length and content (NUL bytes
 * included), in an exact-size heap block: state_parse() promises never
 * to read past len, and ASan holds it to that.
 *
 * Checks: strings terminated inside their arrays, the "not a state
 * file" rule (no name or no pid), and that the writer accepts whatever
 * the reader produced and settles: format(parse(format(parse(x)))) is
 * format(parse(x)) once escaping has done its work, so a state that is
 * published and read back stays the same.  Last, the values --status
 * does arithmetic with (state.c's print_json() and print_human(), which
 * are not exported) must leave it room: `now - since_ms` must not
 * overflow.  If that is ever made safe in the printer instead of the
 * reader, export the printer and call it here in place of that check.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "state.h"
#include "util.h"

#define BUFLEN	8192	/* STATE_MAX in state.c */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(0, 0);
	return 0;
}

static void
check_state(const struct state *st, int rc)
{
	CHECK(TERMINATED(st->name) && TERMINATED(st->destination) &&
	    TERMINATED(st->state) && TERMINATED(st->last_reason) &&
	    TERMINATED(st->liveness) && TERMINATED(st->local) &&
	    TERMINATED(st->remote));
	CHECK((rc == 0) == (st->name[0] != '\0' && st->pid > 0));
}

/* format(st) into a fresh exact-size buffer; returns it, or NULL. */
static char *
format(const struct state *st, int *len)
{
	char *buf;

	if ((buf = malloc(BUFLEN)) == NULL)
		abort();
	*len = state_format(st, buf, BUFLEN);
	CHECK(*len > 0 && *len < BUFLEN);
	CHECK(buf[*len] == '\0' && strlen(buf) == (size_t)*len);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st, st2, st3;
	char *text, *f1, *f2, *f3;
	int64_t age;
	int rc, n1, n2, n3;

	if ((text = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(text, data, size);
	rc = state_parse(text, size, &st);
	CHECK(rc == 0 || rc == -1);
	check_state(&st, rc);
	free(text);
	if (rc == -1)
		return 0;

	f1 = format(&st, &n1);
	CHECK(state_parse(f1, (size_t)n1, &st2) == 0);
	check_state(&st2, 0);
	f2 = format(&st2, &n2);
	CHECK(state_parse(f2, (size_t)n2, &st3) == 0);
	f3 = format(&st3, &n3);
	CHECK(n2 == n3 && memcmp(f2, f3, (size_t)n2) == 0);
	CHECK(st2.pid == st.pid && strcmp(st2.name, st.name) == 0);
	/* --status prints "for N s": now - since_ms, on any state it reads. */
	CHECK(!__builtin_sub_overflow(now_ms(), st.since_ms, &age));
	free(f1);
	free(f2);
	free(f3);
	return 0;
}
