# autossh: one hand-written GNU Makefile.  `make` builds ./autossh,
# `make check` runs every test against a sanitizer build.

VERSION = 2.0.0

CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=
CFLAGS ?= -O2 -g
CPPFLAGS ?=
LDFLAGS ?=
WERROR ?= -Werror
PYTHON ?= /usr/bin/python3

WARN = -Wall -Wextra $(WERROR) -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wwrite-strings -Wundef
HARDEN = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
P_CPPFLAGS = -D_GNU_SOURCE -DAUTOSSH_VERSION='"$(VERSION)"' $(CPPFLAGS)
P_CFLAGS = -std=c11 $(WARN) -MMD -MP $(CFLAGS)
P_LDFLAGS = -pie -Wl,-z,relro,-z,now $(LDFLAGS)
ASAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -O1 -g

SRCS := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

OBJS := $(SRCS:src/%.c=build/%.o)
ASAN_OBJS := $(SRCS:src/%.c=build/asan/%.o)
VG_OBJS := $(SRCS:src/%.c=build/valgrind/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:src/%.c=build/asan/%.o)
VG_LIB_OBJS := $(LIB_SRCS:src/%.c=build/valgrind/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/%)
VG_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/valgrind/%)

.PHONY: all install uninstall unit cli process integration check deps \
	lint valgrind soak bench demo check-fresh clean

all: autossh

autossh: $(OBJS)
	$(CC) $(P_CFLAGS) $(HARDEN) $(P_LDFLAGS) -o $@ $(OBJS)

build/%.o: src/%.c | build
	$(CC) $(P_CPPFLAGS) $(P_CFLAGS) $(HARDEN) -c -o $@ $<

build/asan/autossh: $(ASAN_OBJS)
	$(CC) $(P_CFLAGS) $(ASAN) -o $@ $(ASAN_OBJS)

build/asan/%.o: src/%.c | build/asan
	$(CC) $(P_CPPFLAGS) $(P_CFLAGS) $(ASAN) -c -o $@ $<

build/asan/test_%: tests/unit/test_%.c $(ASAN_LIB_OBJS) | build/asan
	$(CC) $(P_CPPFLAGS) -Isrc $(P_CFLAGS) $(ASAN) -o $@ $< \
		$(ASAN_LIB_OBJS) -lcmocka

# The release flags at -O1 for valgrind's stack traces, no sanitizer.
build/valgrind/autossh: $(VG_OBJS)
	$(CC) $(P_CFLAGS) $(HARDEN) $(P_LDFLAGS) -o $@ $(VG_OBJS)

build/valgrind/%.o: src/%.c | build/valgrind
	$(CC) $(P_CPPFLAGS) $(P_CFLAGS) $(HARDEN) -O1 -g -c -o $@ $<

build/valgrind/test_%: tests/unit/test_%.c $(VG_LIB_OBJS) | build/valgrind
	$(CC) $(P_CPPFLAGS) -Isrc $(P_CFLAGS) $(HARDEN) -O1 -g $(P_LDFLAGS) \
		-o $@ $< $(VG_LIB_OBJS) -lcmocka

build build/asan build/valgrind:
	mkdir -p $@

install: autossh
	install -D -m 0755 autossh $(DESTDIR)$(BINDIR)/autossh
	install -D -m 0644 man/autossh.1 $(DESTDIR)$(MANDIR)/man1/autossh.1
	mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/systemd/autossh@.service \
		> $(DESTDIR)$(UNITDIR)/autossh@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/autossh@.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/autossh $(DESTDIR)$(MANDIR)/man1/autossh.1 \
		$(DESTDIR)$(UNITDIR)/autossh@.service

# Installs the Debian packages the tests need, when missing.
deps:
	@scripts/deps

# Every binary runs; the target fails at the end if any failed.
unit: $(UNIT_BINS)
	@rc=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || rc=1; done; \
		exit $$rc

cli: build/asan/autossh
	tests/cli/run build/asan/autossh

process: build/asan/autossh build/fakessh build/valgrind/autossh
	$(PYTHON) -m pytest -q tests/process

build/fakessh: tests/process/fakessh.c | build
	$(CC) -O1 -g -Wall -Wextra -o $@ $<

# Tests marked `long` (a minute or more of waiting) are left to soak, so
# that check stays under 10 minutes.
integration: build/asan/autossh
	$(PYTHON) -m pytest -q -m "not long" tests/integration

# pyflakes walks the directories (lab/ is the test harness package) and
# also reads the scripts whose first line names python (tests/cli/run).
lint: autossh
	mandoc -Tlint -Wwarning man/autossh.1
	tests/cli/synopsis ./autossh man/autossh.1
	tests/cli/unit-verify ./autossh
	$(PYTHON) -m pyflakes lab tests bench demo

check: deps
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) cli
	$(MAKE) process
	$(MAKE) integration
	$(MAKE) fuzz-short

# The two commands above, proven on a bare machine: a fresh debootstrapped
# Debian 12 root runs `make demo` and `make check` from this tree's HEAD
# (scripts/check-fresh; about 10 minutes).  Not part of check.
check-fresh:
	scripts/check-fresh $(FRESH_ARGS)

# Every unit test, then a restart cycle of autossh, under memcheck; make
# builds them all first, and the target fails at the end if any failed.
valgrind: $(VG_UNIT_BINS) build/valgrind/autossh build/fakessh
	@rc=0; for t in $(VG_UNIT_BINS); do \
		echo "== valgrind $${t#build/valgrind/}"; \
		valgrind -q --leak-check=full --error-exitcode=1 $$t || rc=1; \
	done; \
	echo "== valgrind autossh: a restart cycle"; \
	$(PYTHON) -m pytest -q tests/process/test_valgrind.py || rc=1; \
	exit $$rc

# The long soak: 1000 forced restarts in the lab, 250 more with the loop
# monitor (tests/integration/test_soak.py, about 15 minutes), the fault
# matrix with a 60 s link flap, and the tests marked `long` (the fallback's
# way back, which waits for the once-a-minute probe).
soak: build/asan/autossh
	SOAK_RESTARTS=1000 SOAK_FLAP_S=60 $(PYTHON) -m pytest -q -s \
		tests/integration/test_soak.py tests/integration/test_faults.py
	$(PYTHON) -m pytest -q -s -m long tests/integration

demo: deps autossh
	$(PYTHON) -m demo --autossh ./autossh

# Our release build beside Debian's autossh 1.4g, same scenarios, same run;
# the table also goes to bench/results/latest.md.  Not part of check (timing
# is not a test).  BENCH_ARGS: --full, --only SCENARIO[,..], --repeat N.
bench:
	scripts/deps autossh
	$(MAKE) autossh
	$(PYTHON) -m bench --autossh ./autossh \
		--autossh14 /usr/lib/autossh/autossh $(BENCH_ARGS)

# libFuzzer targets for every parser of outside input (tests/fuzz/README.md).
# `make fuzz` runs each for FUZZ_SECONDS, `make fuzz-short` (part of check)
# for FUZZ_SHORT_SECONDS; FUZZ_JOBS run at once.  New inputs go to
# build/fuzz/corpus-TARGET, crashes to build/fuzz/crashes/TARGET.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SHORT_SECONDS ?= 5
FUZZ_JOBS ?= 2
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_TARGETS:%=build/fuzz/%)
FUZZ_OBJS := $(LIB_SRCS:src/%.c=build/fuzz/obj/%.o)
FUZZ_CFLAGS = -std=c11 $(WARN) -Wno-unused-command-line-argument -MMD -MP \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -g -O1

.PHONY: fuzz fuzz-short
fuzz: FUZZ_TIME = $(FUZZ_SECONDS)
fuzz-short: FUZZ_TIME = $(FUZZ_SHORT_SECONDS)
fuzz fuzz-short:
	@scripts/deps clang libclang-rt-14-dev
	$(MAKE) $(FUZZ_BINS)
	tests/fuzz/run -t $(FUZZ_TIME) -j $(FUZZ_JOBS) $(FUZZ_TARGETS)

build/fuzz/obj/%.o: src/%.c | build/fuzz/obj
	$(FUZZ_CC) $(P_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-c -o $@ $<

build/fuzz/libautossh.a: $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $(FUZZ_OBJS)

build/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build/fuzz/libautossh.a
	$(FUZZ_CC) $(P_CPPFLAGS) -Isrc $(FUZZ_CFLAGS) -fsanitize=fuzzer \
		-o $@ $< build/fuzz/libautossh.a

build/fuzz/obj:
	mkdir -p $@

-include $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)

clean:
	rm -rf build autossh

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(VG_OBJS:.o=.d) $(UNIT_BINS:=.d) \
	$(VG_UNIT_BINS:=.d)
