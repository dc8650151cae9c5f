/*
 * Capture real rtnetlink datagrams as seeds for the netwatch fuzz target
 * (not built by the Makefile; see README.md).  It subscribes to the
 * groups netwatch.c listens to, optionally asks for a link and an
 * address dump, and writes every datagram the kernel sends during the
 * given time to DIR/nl-NNN, prefixed with the fuzz target's flags byte
 * (0: no local address).  Run it in a scratch network namespace:
 *
 *	cc -o /tmp/nlcapture tests/fuzz/nlcapture.c
 *	unshare -n sh -c '/tmp/nlcapture DIR 2 dump & sleep 0.2;
 *	    ip link add d0 type dummy; ip link set d0 up; ...; wait'
 */
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
dump(int fd, int type, unsigned seq)
{
	struct {
		struct nlmsghdr	h;
		struct rtgenmsg	g;
	} req;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = (unsigned short)type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = seq;
	req.g.rtgen_family = AF_UNSPEC;
	if (send(fd, &req, sizeof(req), 0) == -1)
		perror("nlcapture: send");
}

/* Does buf hold the NLMSG_DONE of request seq? */
static int
done(const unsigned char *buf, size_t len, unsigned seq)
{
	struct nlmsghdr h;

	while (len >= sizeof(h)) {
		memcpy(&h, buf, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
			return 0;
		if (h.nlmsg_type == NLMSG_DONE && h.nlmsg_seq == seq)
			return 1;
		if (NLMSG_ALIGN(h.nlmsg_len) >= len)
			return 0;
		buf += NLMSG_ALIGN(h.nlmsg_len);
		len -= NLMSG_ALIGN(h.nlmsg_len);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_nl sa;
	unsigned char buf[32768];
	char path[4096];
	struct timespec t0, t;
	int fd, n = 0, secs;

	if (argc < 3) {
		fprintf(stderr, "usage: nlcapture DIR SECONDS [dump]\n");
		return 2;
	}
	secs = atoi(argv[2]);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1) {
		perror("nlcapture: socket");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
	    RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		perror("nlcapture: bind");
		return 1;
	}
	if (argc > 3 && strcmp(argv[3], "dump") == 0)
		dump(fd, RTM_GETLINK, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		FILE *f;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= secs)
			break;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((r = recv(fd, buf, sizeof(buf), 0)) <= 0)
			continue;
		snprintf(path, sizeof(path), "%s/nl-%03d", argv[1], n++);
		if ((f = fopen(path, "wb")) == NULL) {
			perror(path);
			return 1;
		}
		fputc(0, f);
		fwrite(buf, 1, (size_t)r, f);
		fclose(f);
		/* The address dump may start once the link dump is done. */
		if (argc > 3 && done(buf, (size_t)r, 1))
			dump(fd, RTM_GETADDR, 2);
	}
	close(fd);
	return 0;
}
