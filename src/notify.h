/*
 * systemd's notification protocol, spoken directly: one datagram per
 * message on the Unix socket named by $NOTIFY_SOCKET.  Without that
 * variable every call is a no-op.
 */
#ifndef AUTOSSH_NOTIFY_H
#define AUTOSSH_NOTIFY_H

#include <stdint.h>

/*
 * Read $NOTIFY_SOCKET and $WATCHDOG_USEC (honouring $WATCHDOG_PID) and
 * remove them from the environment, so that ssh and its helpers do not
 * talk to systemd in our name.  Returns 0, or -1 with errno set when the
 * socket cannot be created (the caller logs and goes on).
 */
int	notify_init(void);

/* Send one message such as "READY=1\nSTATUS=up".  0 or -1/errno. */
int	notify_send(const char *msg);

/*
 * The watchdog interval systemd asked for, halved as sd_notify(3)
 * advises, in ms; 0 when there is no watchdog.
 */
int64_t	notify_watchdog_ms(void);

/* Close the socket. */
void	notify_close(void);

#endif
