/*
 * The -f handshake between the foreground parent and the daemon
 * (DESIGN.md §Published state): one pipe, one message a line, a letter
 * and an escaped text.  The daemon writes; the parent reads until it may
 * return.  This file is the whole protocol; nothing else speaks it.
 */
#ifndef AUTOSSH_WAITPIPE_H
#define AUTOSSH_WAITPIPE_H

#include <stddef.h>

/* The messages, in the order the daemon may send them. */
#define WAIT_STARTED	'S'	/* start-up is over; errors came before */
#define WAIT_UP		'U'	/* the tunnel is up for the first time */
#define WAIT_RETRY	'R'	/* a failure; text: why, and the next try */
#define WAIT_EXIT	'X'	/* the daemon exits; text: why */

/*
 * Write one message on fd, text (NULL: none) escaped (DESIGN.md §Logging) so that it
 * stays one line.  Returns 0, or -1 with errno set (EPIPE: the parent
 * has gone).  Never blocks for long: the parent reads at once.
 */
int	waitpipe_send(int fd, char kind, const char *text);

/* The parent's side: what has been read so far. */
struct waitpipe_reader {
	char	 buf[2048];
	size_t	 len;
	int	 started;	/* WAIT_STARTED was read */
	int	 up;		/* WAIT_UP was read after it */
	char	 last[512];	/* the last R or X text, escaped again */
};

void	waitpipe_reader_init(struct waitpipe_reader *r);

/*
 * Feed n bytes read from the pipe.  Whole lines are taken in order;
 * a partial line waits for the rest, an overlong one is dropped.
 * Returns the letter of the last message of interest taken (WAIT_STARTED,
 * WAIT_UP, or 0 for none): the caller acts on started and up.  Unknown
 * letters are ignored, WAIT_UP before WAIT_STARTED too; R and X texts
 * are escaped again, as anything could have written to the pipe.
 */
int	waitpipe_feed(struct waitpipe_reader *r, const char *data, size_t n);

#endif
