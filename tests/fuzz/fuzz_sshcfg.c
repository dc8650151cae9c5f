/*
 * Fuzz target: the parser of `ssh -G` output (sshcfg_parse()).
 *
 * Input: the output, as ssh would print it (it is cut at the first NUL
 * byte, as the parser sees a C string).  Checks that every field the
 * liveness layer uses is within the range it was validated against,
 * that the host name is usable (non-empty, no blanks or control
 * characters), that strings are terminated inside their arrays, and
 * that a failure always comes with a message.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "sshcfg.h"

#define ERRLEN	256

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(0, 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshcfg c;
	char *text, *errbuf;
	int rc;
	size_t i;

	/* Exact sizes, so that ASan sees a read or write past either. */
	if ((text = malloc(size + 1)) == NULL ||
	    (errbuf = malloc(ERRLEN)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	memset(errbuf, 'X', ERRLEN);

	rc = sshcfg_parse(text, &c, errbuf, ERRLEN);
	CHECK(rc == 0 || rc == -1);
	CHECK(memchr(errbuf, '\0', ERRLEN) != NULL);
	if (rc == -1)
		CHECK(errbuf[0] != '\0');
	else {
		CHECK(TERMINATED(c.hostname) && c.hostname[0] != '\0');
		for (i = 0; c.hostname[i] != '\0'; i++)
			CHECK((unsigned char)c.hostname[i] > ' ' &&
			    c.hostname[i] != 0x7f);
		CHECK(c.port >= 1 && c.port <= 65535);
		CHECK(c.family == AF_UNSPEC || c.family == AF_INET ||
		    c.family == AF_INET6);
		CHECK(c.connect_timeout_s >= 0);
		CHECK(c.alive_interval_s >= 0);
		CHECK(c.alive_count_max >= 0);
		CHECK(c.local_forwards >= 0 && c.remote_forwards >= 0 &&
		    c.dynamic_forwards >= 0);
		CHECK(TERMINATED(c.loglevel));
		CHECK(TERMINATED(c.bind_address));
		CHECK(TERMINATED(c.bind_interface));
	}
	free(errbuf);
	free(text);
	return 0;
}
