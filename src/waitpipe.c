/*
 * The -f handshake's messages: the daemon's writer and the parent's
 * reader.  Pure but for one write(2); the reader holds no descriptor, so
 * its rules (partial lines, escapes, unknown letters) are unit-tested.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "waitpipe.h"

int
waitpipe_send(int fd, char kind, const char *text)
{
	char line[512], esc[500];
	ssize_t w;
	int n;

	/* The parent prints it on a terminal; a newline would end it early. */
	if (text == NULL)
		n = snprintf(line, sizeof(line), "%c\n", kind);
	else {
		log_escape(esc, sizeof(esc), text);
		n = snprintf(line, sizeof(line), "%c %s\n", kind, esc);
	}
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	do {
		w = write(fd, line, (size_t)n);
	} while (w == -1 && errno == EINTR);
	return w == -1 ? -1 : 0;
}

void
waitpipe_reader_init(struct waitpipe_reader *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->last, sizeof(r->last), "no answer yet");
}

/* One whole line, without its newline. */
static int
take(struct waitpipe_reader *r, const char *line)
{
	if (line[0] == WAIT_STARTED) {
		r->started = 1;
		return WAIT_STARTED;
	}
	if (line[0] == WAIT_UP && r->started) {
		r->up = 1;
		return WAIT_UP;
	}
	if ((line[0] == WAIT_RETRY || line[0] == WAIT_EXIT) && line[1] == ' ')
		log_escape(r->last, sizeof(r->last), line + 2);
	return 0;
}

int
waitpipe_feed(struct waitpipe_reader *r, const char *data, size_t n)
{
	int got = 0, k;
	char *nl;

	while (n > 0) {
		size_t room = sizeof(r->buf) - 1 - r->len;
		size_t m = n < room ? n : room;

		memcpy(r->buf + r->len, data, m);
		r->len += m;
		r->buf[r->len] = '\0';
		data += m;
		n -= m;
		while ((nl = memchr(r->buf, '\n', r->len)) != NULL) {
			*nl = '\0';
			if ((k = take(r, r->buf)) != 0)
				got = k;
			r->len -= (size_t)(nl + 1 - r->buf);
			memmove(r->buf, nl + 1, r->len + 1);
		}
		/* A line longer than the buffer is nobody's message. */
		if (r->len == sizeof(r->buf) - 1)
			r->len = 0;
	}
	return got;
}
