/*
 * Shared by the libFuzzer targets in this directory: the entry points
 * libFuzzer calls (declared here so that -Wmissing-prototypes holds for
 * the targets too), TERMINATED() for fixed-size strings, and CHECK(),
 * which turns a broken invariant into a crash that libFuzzer reports
 * and saves like any sanitizer finding.
 */
#ifndef AUTOSSH_FUZZ_H
#define AUTOSSH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* Does the fixed-size char array a hold a terminated string? */
#define TERMINATED(a)	(memchr((a), '\0', sizeof(a)) != NULL)

/* An invariant of the code under test; abort() with where and what. */
#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif
