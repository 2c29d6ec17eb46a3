# SPDX-License-Identifier: MIT
# libFuzzer harnesses (included from daemon/local.mk): built only by
# './configure --enable-fuzzing CC=clang', never installed, never run by
# 'make check'. 'make fuzz' runs each for FUZZ_SECONDS on its corpus.
# See tests/fuzz/README.md.

FUZZ_NAMES = fuzz_protocol fuzz_config fuzz_daemon_config
FUZZ_SECONDS = 60

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_protocol tests/fuzz/fuzz_config \
	tests/fuzz/fuzz_daemon_config
endif

# The daemon is compiled again without main() and its sockets; lib/extent.c
# comes with it as in growmapd. clang calls extent.c's FIEMAP buffer (a
# struct ending in a flexible array, inside a struct) a GNU extension,
# which it is, and one gcc builds the library with.
FUZZ_DAEMON_CPPFLAGS = $(AM_CPPFLAGS) -DGROWMAPD_FUZZ -I$(srcdir)/tests/fuzz
FUZZ_DAEMON_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(LIBURING_CFLAGS) \
	$(FUZZ_CFLAGS) -Wno-gnu-variable-sized-type-not-at-end
FUZZ_DAEMON_SOURCES = daemon/growmapd.c tests/fuzz/growmapd-fuzz.h \
	lib/extent.c lib/extent.h lib/parse-number.c lib/parse-number.h lib/proto.h lib/cachestat.h

tests_fuzz_fuzz_protocol_SOURCES = tests/fuzz/fuzz_protocol.c $(FUZZ_DAEMON_SOURCES)
tests_fuzz_fuzz_protocol_CPPFLAGS = $(FUZZ_DAEMON_CPPFLAGS)
tests_fuzz_fuzz_protocol_CFLAGS = $(FUZZ_DAEMON_CFLAGS)
tests_fuzz_fuzz_protocol_LDADD = $(LIBURING_LIBS)

tests_fuzz_fuzz_daemon_config_SOURCES = tests/fuzz/fuzz_daemon_config.c \
	$(FUZZ_DAEMON_SOURCES)
tests_fuzz_fuzz_daemon_config_CPPFLAGS = $(FUZZ_DAEMON_CPPFLAGS)
tests_fuzz_fuzz_daemon_config_CFLAGS = $(FUZZ_DAEMON_CFLAGS)
tests_fuzz_fuzz_daemon_config_LDADD = $(LIBURING_LIBS)

# lib/config.c and lib/log.c compiled in, as for tests/check_config.
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c lib/config.c lib/log.c \
	lib/parse-number.c lib/parse-number.h
tests_fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) $(LIBURING_CFLAGS) $(FUZZ_CFLAGS)

EXTRA_DIST += tests/fuzz/README.md tests/fuzz/corpus

# New inputs go to tests/fuzz/work/NAME in the build tree, crashes to
# tests/fuzz/artifacts/; the committed corpus is only read. stderr is
# /dev/null for the code under test (the parsers log every refusal),
# libFuzzer's and the sanitizers' reports still show.
.PHONY: fuzz fuzz-merge
if ENABLE_FUZZING
fuzz: $(FUZZ_NAMES:%=tests/fuzz/%)
	@$(MKDIR_P) tests/fuzz/artifacts && \
	for h in $(FUZZ_NAMES); do \
		$(MKDIR_P) tests/fuzz/work/$$h || exit 1; \
		echo "== $$h, $(FUZZ_SECONDS) s"; \
		nice -n 19 tests/fuzz/$$h -max_total_time=$(FUZZ_SECONDS) \
			-close_fd_mask=2 -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/artifacts/$$h- \
			tests/fuzz/work/$$h $(srcdir)/tests/fuzz/corpus/$$h || exit 1; \
	done

# Adds to each committed corpus, in the source tree, what 'make fuzz'
# found that reaches new coverage (-merge=1 keeps the files already there,
# the hand-written seeds); then review and commit it.
fuzz-merge: $(FUZZ_NAMES:%=tests/fuzz/%)
	@for h in $(FUZZ_NAMES); do \
		$(MKDIR_P) tests/fuzz/work/$$h && \
		tests/fuzz/$$h -merge=1 -close_fd_mask=2 \
			$(srcdir)/tests/fuzz/corpus/$$h tests/fuzz/work/$$h || exit 1; \
	done
else
fuzz fuzz-merge:
	@echo "the fuzzing harnesses need ./configure --enable-fuzzing CC=clang" >&2; exit 1
endif

clean-local: clean-fuzz
.PHONY: clean-fuzz
clean-fuzz:
	-rm -rf tests/fuzz/work tests/fuzz/artifacts
