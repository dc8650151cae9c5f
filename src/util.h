/*
 * Small helpers shared by every module: the monotonic clock, strict
 * number parsing, bounded string copies and descriptor flags.  Nothing
 * here logs or exits; failures are reported through the return value.
 */
#ifndef AUTOSSH_UTIL_H
#define AUTOSSH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* "No deadline": later than any real monotonic time. */
#define NEVER INT64_MAX

/* Milliseconds of CLOCK_MONOTONIC.  Never fails on Linux. */
int64_t	now_ms(void);

/*
 * Parse a whole decimal integer in [min, max] into *out.  Leading and
 * trailing blanks, signs other than a leading '-', hex, empty strings and
 * trailing garbage are errors.  Returns 0, or -1 with a message in errbuf
 * naming the accepted range (the caller prefixes the culprit's name).
 */
int	parse_num(const char *s, long long min, long long max, long long *out,
	    char *errbuf, size_t errlen);

/*
 * Copy src into dst of size dstsize, always NUL-terminating when dstsize
 * is non-zero.  Returns strlen(src); a result >= dstsize means truncation.
 */
size_t	util_strlcpy(char *dst, const char *src, size_t dstsize);

/*
 * The length (1..4) of the well-formed UTF-8 sequence at the start of
 * the NUL-terminated s, or 0 when s starts with a byte that does not
 * begin one: a stray continuation byte, a sequence cut short, an
 * overlong form, a surrogate, or a code point above U+10FFFF.  The code
 * point goes to *cp when cp is not NULL.  Never reads past the NUL.
 */
size_t	util_utf8_seq(const char *s, unsigned long *cp);

/* Set O_NONBLOCK on fd.  Returns 0, or -1 with errno set. */
int	set_nonblock(int fd);

/*
 * Format a duration in milliseconds for humans: "350 ms", "3.2 s",
 * "4m05s", "3h12m", "2d04h".  Always NUL-terminates; returns buf.
 */
char	*fmt_duration(int64_t ms, char *buf, size_t len);

/*
 * Fill buf with len random bytes from getrandom(2).  Returns 0, or -1
 * with errno set; never returns predictable bytes silently.
 */
int	util_random(void *buf, size_t len);

#endif
