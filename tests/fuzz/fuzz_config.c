/*
 * Fuzz target: the command line and the environment (config_parse()).
 *
 * Input: ARGS [ 0x01 ENV ].  ARGS is split on NUL bytes into argv[1..]
 * (argv[0] is "autossh"; an empty ARGS means no arguments).  ENV, after
 * the first 0x01 byte, is split on NUL bytes too, and "AUTOSSH_" is put
 * in front of every entry, so "PORT=20000" becomes AUTOSSH_PORT=20000.
 *
 * Beyond the sanitizers, it checks what the rest of autossh relies on:
 * a NUL-terminated ssh vector starting with "ssh", a destination inside it
 * in run mode, the remote command passed on untouched (DESIGN.md
 * §Command line), every setting within its documented range, the
 * monitor's forwards, and a terminated error message whenever parsing
 * fails.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "state.h"

#define ERRLEN		256
#define ENV_PREFIX	"AUTOSSH_"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(0, 0);
	return 0;
}

/* Split buf[0..len) on NUL into v (room for len + 1 entries). */
static int
split(char *buf, size_t len, char **v)
{
	size_t i;
	int n = 0;

	if (len == 0)
		return 0;
	v[n++] = buf;
	for (i = 0; i < len; i++)
		if (buf[i] == '\0')
			v[n++] = buf + i + 1;
	return n;
}

static void
check_vector(const struct config *cfg)
{
	int i;

	CHECK(cfg->ssh_argv != NULL);
	CHECK(cfg->ssh_argc >= 1 && cfg->ssh_argc < cfg->ssh_cap);
	CHECK(strcmp(cfg->ssh_argv[0], "ssh") == 0);
	for (i = 0; i < cfg->ssh_argc; i++)
		CHECK(cfg->ssh_argv[i] != NULL);
	CHECK(cfg->ssh_argv[cfg->ssh_argc] == NULL);
}

static int
has_pair(const struct config *cfg, const char *opt, const char *val)
{
	int i;

	for (i = 1; i + 1 < cfg->dest_index; i++)
		if (strcmp(cfg->ssh_argv[i], opt) == 0 &&
		    strcmp(cfg->ssh_argv[i + 1], val) == 0)
			return 1;
	return 0;
}

static void
check_run(struct config *cfg, int argc, char **argv)
{
	const char *dest = config_destination(cfg);
	char fwd[64], name[MAX_NAME + 1];
	int tail, i, d;

	CHECK(cfg->dest_index >= 1 && cfg->dest_index < cfg->ssh_argc);
	CHECK(dest != NULL);
	/* The destination and everything after it, exactly as given. */
	tail = cfg->ssh_argc - cfg->dest_index;
	CHECK(tail <= argc - 1);
	for (i = 0; i < tail; i++)
		CHECK(strcmp(cfg->ssh_argv[cfg->dest_index + i],
		    argv[argc - tail + i]) == 0);
	CHECK(cfg->has_command == (tail > 1));

	CHECK(cfg->mon_port >= 0 && cfg->mon_port <= 65535);
	CHECK(cfg->echo_port >= 0 && cfg->echo_port <= 65535);
	if (cfg->mon_port != 0 && cfg->echo_port == 0) {
		CHECK(cfg->mon_port <= 65534);
		snprintf(fwd, sizeof(fwd), "%d:127.0.0.1:%d", cfg->mon_port,
		    cfg->mon_port);
		CHECK(has_pair(cfg, "-L", fwd));
		snprintf(fwd, sizeof(fwd), "%d:127.0.0.1:%d", cfg->mon_port,
		    cfg->mon_port + 1);
		CHECK(has_pair(cfg, "-R", fwd));
	} else if (cfg->mon_port != 0) {
		snprintf(fwd, sizeof(fwd), "%d:127.0.0.1:%d", cfg->mon_port,
		    cfg->echo_port);
		CHECK(has_pair(cfg, "-L", fwd));
	}
	CHECK(cfg->poll_s >= 1 && cfg->first_poll_s >= 1);
	CHECK(cfg->gate_s >= 0);
	CHECK(!cfg->background || cfg->gate_s == 0);
	CHECK(cfg->maxstart == -1 || cfg->maxstart >= 1);
	CHECK(cfg->maxlifetime_s >= 0);
	CHECK(cfg->loglevel >= 0 && cfg->loglevel <= 7);
	CHECK(cfg->deadline_s == 0 ||
	    (cfg->deadline_s >= MIN_DEADLINE_S && cfg->deadline_s <= 86400));
	CHECK(cfg->backoff_max_s >= 1 && cfg->backoff_max_s <= 86400);
	CHECK(cfg->wait_s >= 0 && cfg->wait_s <= 86400);
	CHECK(memchr(cfg->message, '\0', sizeof(cfg->message)) != NULL);
	for (i = 0; cfg->message[i] != '\0'; i++)
		CHECK((unsigned char)cfg->message[i] >= 0x20 &&
		    cfg->message[i] != 0x7f);
	CHECK(memchr(cfg->name, '\0', sizeof(cfg->name)) != NULL);
	CHECK(cfg->name[0] != '.');

	/* The default instance name becomes a file name. */
	state_default_name(dest, name, sizeof(name));
	CHECK(name[0] != '\0' && name[0] != '.');
	for (i = 0; name[i] != '\0'; i++)
		CHECK(isalnum((unsigned char)name[i]) ||
		    strchr("._@:+-", name[i]) != NULL);

	/* main.c adds its options in front of the destination. */
	d = cfg->dest_index;
	CHECK(config_ssh_insert(cfg, d, "-oLogLevel=DEBUG1") == 0);
	CHECK(cfg->dest_index == d + 1);
	CHECK(strcmp(config_destination(cfg), dest) == 0);
	check_vector(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, 0x01, size);
	size_t alen = sep != NULL ? (size_t)(sep - data) : size;
	size_t elen = sep != NULL ? size - alen - 1 : 0;
	char *abuf, *ebuf, **argv, **envp, *errbuf, *o;
	struct config cfg;
	int argc, nenv, i, rc;

	abuf = malloc(alen + 1);
	ebuf = malloc(elen + 1);
	argv = calloc(alen + 3, sizeof(*argv));
	envp = calloc(elen + 2, sizeof(*envp));
	/* Exactly ERRLEN bytes, so that ASan sees any write past it. */
	errbuf = malloc(ERRLEN);
	if (abuf == NULL || ebuf == NULL || argv == NULL || envp == NULL ||
	    errbuf == NULL)
		abort();
	memcpy(abuf, data, alen);
	abuf[alen] = '\0';
	memcpy(ebuf, data + alen + (sep != NULL), elen);
	ebuf[elen] = '\0';

	argv[0] = (char *)"autossh";
	argc = 1 + split(abuf, alen, argv + 1);
	argv[argc] = NULL;

	nenv = split(ebuf, elen, envp);
	for (i = 0; i < nenv; i++) {
		size_t n = strlen(envp[i]);

		if ((o = malloc(sizeof(ENV_PREFIX) + n)) == NULL)
			abort();
		memcpy(o, ENV_PREFIX, sizeof(ENV_PREFIX) - 1);
		memcpy(o + sizeof(ENV_PREFIX) - 1, envp[i], n + 1);
		envp[i] = o;
	}
	envp[nenv] = NULL;

	memset(errbuf, 'X', ERRLEN);
	rc = config_parse(&cfg, argc, argv, envp, errbuf, ERRLEN);
	CHECK(rc == 0 || rc == -1);
	CHECK(memchr(errbuf, '\0', ERRLEN) != NULL);
	/* A failure always says why (fatal() escapes it for the log). */
	if (rc == -1)
		CHECK(errbuf[0] != '\0');
	if (cfg.ssh_argv != NULL)
		check_vector(&cfg);
	if (rc == 0 && cfg.mode == MODE_RUN)
		check_run(&cfg, argc, argv);
	if (rc == 0 && cfg.mode == MODE_STATUS && cfg.status_target != NULL) {
		for (i = 1; i < argc; i++)
			if (cfg.status_target == argv[i])
				break;
		CHECK(i < argc);
	}
	config_free(&cfg);

	for (i = 0; i < nenv; i++)
		free(envp[i]);
	free(envp);
	free(argv);
	free(ebuf);
	free(abuf);
	free(errbuf);
	return 0;
}
