/*
 * Logging: levels, sinks (stderr, syslog, a file, journald's stderr) and
 * rate limiting of repeated messages.  Every line is formatted into one
 * bounded buffer and written with a single write(2), so output is never
 * duplicated after fork() and never interleaves within a line.
 */
#ifndef AUTOSSH_LOG_H
#define AUTOSSH_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Levels are syslog(3) priorities: 0 (emerg) .. 7 (debug). */
#define LOG_LVL_ERR	3
#define LOG_LVL_WARNING	4
#define LOG_LVL_NOTICE	5
#define LOG_LVL_INFO	6
#define LOG_LVL_DEBUG	7

/* Sinks, combined as a bit mask. */
#define LOG_TO_STDERR	0x01	/* "autossh: warning: ..." on fd 2 */
#define LOG_TO_SYSLOG	0x02	/* openlog("autossh", LOG_PID, LOG_USER) */
#define LOG_TO_FILE	0x04	/* timestamped lines, see log_open_file() */
#define LOG_TO_JOURNAL	0x08	/* "<N>..." lines on fd 2 for journald */

/* Longest line written, including the prefix and the newline. */
#define LOG_LINE_MAX	1024

/*
 * Set the threshold (0..7) and the sinks.  Opening syslog happens here;
 * a file sink needs log_open_file() as well.  May be called again (after
 * daemonizing, for instance) to change the sinks.
 */
void	log_init(int level, unsigned sinks);

/* The current threshold; messages above it are dropped. */
int	log_level(void);

/*
 * Open path for appending (O_APPEND|O_CLOEXEC|O_NOFOLLOW, mode 0644) and
 * remember it for log_reopen().  Returns 0, or -1 with errno set; EINVAL
 * means path is neither a regular file nor /dev/null (a FIFO, a socket,
 * another device), which is refused without blocking.
 */
int	log_open_file(const char *path);

/*
 * Reopen the file sink (after rotation, on SIGHUP), with the same checks.
 * Returns 0, or -1 with errno set; on failure the old descriptor stays
 * in use.
 */
int	log_reopen(void);

/* Close the file sink and syslog.  Used at exit and in tests. */
void	log_close(void);

/*
 * Run hook() from fatal() before exiting, so that the caller can stop
 * ssh and remove the pidfile.  The hook must not call fatal().
 */
void	log_set_fatal_hook(void (*hook)(void));

void	log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vmsg(int level, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Log at error level on every sink and on stderr, run the fatal hook,
 * and exit(1).  For start-up errors and "can't happen" only.
 */
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * The one escaping rule for text that reaches a terminal, a log or
 * systemd: tab and carriage return become \t and \r; every other C0
 * control, DEL, the C1 controls U+0080..U+009F and every byte that is
 * not part of a well-formed UTF-8 sequence become \xNN (one per byte);
 * printable UTF-8 passes unchanged.  Backslashes are not escaped.  The
 * result is valid UTF-8, always NUL-terminated, possibly truncated, but
 * never in the middle of an escape or a character.  dst needs up to 4
 * bytes per byte of src.  Safe to call from any context; never fails.
 */
void	log_escape(char *dst, size_t len, const char *src);

#endif
