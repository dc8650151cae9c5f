/*
 * Fuzz target: the text helpers every outside string passes through on
 * its way to a log line or a number: log_escape(), log_msg() (format,
 * escape, rate limit, file sink), util_strlcpy(), parse_num() and
 * fmt_duration().
 *
 * Input: two bytes of destination size (big-endian, modulo 1100, so 0
 * and 1 occur), eight bytes of a duration in milliseconds, then the
 * text (cut at its first NUL, as a C string).
 *
 * Checks: escaping writes nothing past len, always terminates (len > 0),
 * leaves no control character, and cuts only between whole escapes of
 * the full result; strlcpy terminates and reports the source length;
 * parse_num() accepts only whole decimal numbers inside the range and
 * always explains a refusal; fmt_duration() terminates for any value.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "util.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_LVL_INFO, 0);
	/* A file sink that costs one write(2) a line and keeps nothing. */
	if (log_open_file("/dev/null") == 0)
		log_init(LOG_LVL_INFO, LOG_TO_FILE);
	return 0;
}

static void
check_escape(const char *src, size_t len)
{
	size_t full_len = strlen(src) * 4 + 1, n, i, cut, w, t;
	unsigned long cp;
	char *full, *dst;

	if ((full = malloc(full_len)) == NULL ||
	    (dst = malloc(len ? len : 1)) == NULL)
		abort();
	log_escape(full, full_len, src);
	/* Nothing is cut when there is room for the worst case. */
	CHECK(strlen(full) < full_len);
	/* Valid UTF-8 without a C0, DEL or C1 control. */
	for (i = 0; full[i] != '\0'; i += w) {
		w = util_utf8_seq(full + i, &cp);
		CHECK(w > 0 && cp >= 0x20 && (cp < 0x7f || cp > 0x9f));
	}

	log_escape(dst, len, src);
	if (len > 0) {
		CHECK(memchr(dst, '\0', len) != NULL);
		n = strlen(dst);
		/*
		 * The longest run of whole escapes and whole characters that
		 * fits, nothing less.
		 */
		for (i = 0, cut = 0; src[i] != '\0'; i += w) {
			unsigned char c = (unsigned char)src[i];

			w = util_utf8_seq(src + i, &cp);
			if (c == '\t' || c == '\r') {
				t = 2;
				w = 1;
			} else if (w == 0 || cp < 0x20 ||
			    (cp >= 0x7f && cp <= 0x9f)) {
				t = 4;
				w = 1;
			} else
				t = w;
			if (cut + t >= len)
				break;
			cut += t;
		}
		CHECK(n == cut && memcmp(dst, full, n) == 0);
	}
	free(dst);
	free(full);
}

static void
check_num(const char *s)
{
	static const long long ranges[][2] = {
		{ 0, 65535 }, { 1, 65534 }, { -1, INT_MAX }, { 0, 86400 },
		{ INT_MIN, INT_MAX }, { LLONG_MIN + 1, LLONG_MAX },
	};
	char why[160];
	long long v;
	size_t r;
	const char *p;

	for (r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		memset(why, 'X', sizeof(why));
		v = 12345;
		if (parse_num(s, ranges[r][0], ranges[r][1], &v, why,
		    sizeof(why)) == 0) {
			CHECK(v >= ranges[r][0] && v <= ranges[r][1]);
			p = s + (*s == '-');
			CHECK(*p != '\0' && strspn(p, "0123456789") ==
			    strlen(p));
		} else {
			CHECK(v == 12345);
			CHECK(memchr(why, '\0', sizeof(why)) != NULL &&
			    why[0] != '\0');
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src, *dst, dur[32];
	size_t len, n;
	uint64_t u = 0;
	int64_t ms;
	int i;

	if (size < 10)
		return 0;
	len = (((size_t)data[0] << 8) | data[1]) % 1100;
	for (i = 0; i < 8; i++)
		u = u << 8 | data[2 + i];
	memcpy(&ms, &u, sizeof(ms));
	data += 10;
	size -= 10;
	if ((src = malloc(size + 1)) == NULL)
		abort();
	memcpy(src, data, size);
	src[size] = '\0';

	check_escape(src, len);

	if ((dst = malloc(len ? len : 1)) == NULL)
		abort();
	n = util_strlcpy(dst, src, len);
	CHECK(n == strlen(src));
	if (len > 0)
		CHECK(strlen(dst) == (n < len ? n : len - 1));
	free(dst);

	check_num(src);

	memset(dur, 'X', sizeof(dur));
	fmt_duration(ms, dur, sizeof(dur));
	CHECK(memchr(dur, '\0', sizeof(dur)) != NULL && dur[0] != '\0');

	errno = EPIPE;
	log_msg(LOG_LVL_INFO, "ssh: %s", src);
	log_warn("unable to %s: %s", src, strerror(errno));
	CHECK(errno == EPIPE);
	free(src);
	return 0;
}
