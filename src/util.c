/*
 * Small helpers shared by every module.  They are deliberately free of
 * policy: no logging, no exits, and no allocation.
 */
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

int64_t
now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
parse_num(const char *s, long long min, long long max, long long *out,
    char *errbuf, size_t errlen)
{
	const char *p = s;
	char *end;
	long long v;

	if (s == NULL || *s == '\0') {
		snprintf(errbuf, errlen, "empty value (expected %lld..%lld)",
		    min, max);
		return -1;
	}
	if (*p == '-')
		p++;
	/* strtoll would accept blanks, '+' and a lone '-'; we do not. */
	if (!isdigit((unsigned char)*p))
		goto bad;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		goto bad;
	if (errno == ERANGE || v < min || v > max) {
		snprintf(errbuf, errlen, "'%s' is out of range %lld..%lld",
		    s, min, max);
		return -1;
	}
	*out = v;
	return 0;
bad:
	snprintf(errbuf, errlen, "'%s' is not a number (expected %lld..%lld)",
	    s, min, max);
	return -1;
}

size_t
util_utf8_seq(const char *s, unsigned long *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned long c, min;
	size_t n, i;

	if (u[0] < 0x80) {
		n = 1;
		c = u[0];
		min = 0;
	} else if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		n = 2;
		c = u[0] & 0x1f;
		min = 0x80;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		n = 3;
		c = u[0] & 0x0f;
		min = 0x800;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		n = 4;
		c = u[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	/* A NUL is not a continuation byte, so this stops at the end. */
	for (i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (u[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp != NULL)
		*cp = c;
	return n;
}

size_t
util_strlcpy(char *dst, const char *src, size_t dstsize)
{
	size_t n = strlen(src);

	if (dstsize > 0) {
		size_t c = n < dstsize - 1 ? n : dstsize - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

char *
fmt_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s;

	if (ms < 0)
		ms = 0;
	s = ms / 1000;
	if (ms < 1000)
		snprintf(buf, len, "%" PRId64 " ms", ms);
	else if (ms < 60000)
		snprintf(buf, len, "%" PRId64 ".%" PRId64 " s", s,
		    (ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60,
		    s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600,
		    (s % 3600) / 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400,
		    (s % 86400) / 3600);
	return buf;
}

int
util_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
