# Fuzzing (included by the Makefile). Each fuzz/fuzz-<name>.c is a libFuzzer target built with clang and
# -fsanitize=fuzzer,address,undefined against its own instrumented copy of the libraries (build/fuzz), so
# that the normal and SAN=1 trees are never mixed with it. fuzz/corpus/<name>/ is the committed seed corpus
# (real inputs, plus every input that once found a bug); fuzz/<name>.dict is an optional dictionary.
# New inputs found while fuzzing go to build/fuzz/corpus/<name>/ and crashes to build/fuzz/artifacts/.

FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 60
FUZZ_BUILD    := $(O)/build/fuzz
FUZZ_SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# No -fopenmp-simd here: instrumented loops cannot be vectorized and clang warns (-Werror) about each.
FUZZ_CFLAGS   := -std=c11 -O1 -g -pthread $(WARN) $(FUZZ_SANFLAGS) -MMD -MP
FUZZ_SRC      := $(sort $(wildcard fuzz/fuzz-*.c))
FUZZ_NAMES    := $(FUZZ_SRC:fuzz/fuzz-%.c=%)
FUZZ_BINS     := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz-%)
FUZZ_TARGETS  ?= $(FUZZ_NAMES)
FUZZ_LIBCORE  := $(FUZZ_BUILD)/libptcore.a
FUZZ_LIBSERVER := $(FUZZ_BUILD)/libptserver.a
# -timeout: an input that takes seconds is a hang; -rss_limit_mb also bounds single allocations.
FUZZ_OPTS     := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

.PHONY: fuzz-build fuzz-replay

$(FUZZ_BUILD)/%.o: %.c Makefile fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIBCORE): $(CORE_SRC:%.c=$(FUZZ_BUILD)/%.o)
	rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_LIBSERVER): $(SERVER_SRC:%.c=$(FUZZ_BUILD)/%.o)
	rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz-%: fuzz/fuzz-%.c fuzz/fuzz.h $(FUZZ_LIBSERVER) $(FUZZ_LIBCORE)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -Ifuzz -DFUZZ_SRC_DIR='"$(abspath fuzz)"' -fsanitize=fuzzer \
		-o $@ $< $(FUZZ_LIBSERVER) $(FUZZ_LIBCORE) $(LDLIBS)

fuzz-build: $(FUZZ_BINS) ## build the libFuzzer targets (clang) into build/fuzz

fuzz-replay: fuzz-build ## run every fuzz target once over its committed corpus (fast; CI)
	@mkdir -p $(FUZZ_BUILD)/log; for n in $(FUZZ_TARGETS); do \
		log=$(FUZZ_BUILD)/log/replay-$$n.log; \
		$(FUZZ_BUILD)/fuzz-$$n $(FUZZ_OPTS) -runs=0 fuzz/corpus/$$n > $$log 2>&1 \
			|| { tail -n 60 $$log; echo "fuzz-$$n: replay failed (log: $$log)"; exit 1; }; \
		echo "fuzz-$$n: $$(ls fuzz/corpus/$$n | wc -l) inputs replayed, $$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' $$log | tail -n 1)"; \
	done

# One process per target, one target at a time (no -jobs: libFuzzer's -jobs forks workers that log to ./fuzz-N.log).
fuzz: fuzz-build ## fuzz each target (or FUZZ_TARGETS="a b") for FUZZ_SECONDS (default 60), one after the other
	@mkdir -p $(FUZZ_BUILD)/artifacts $(FUZZ_BUILD)/log; for n in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$n; log=$(FUZZ_BUILD)/log/fuzz-$$n.log; \
		dict=; [ -f fuzz/$$n.dict ] && dict=-dict=fuzz/$$n.dict; \
		$(FUZZ_BUILD)/fuzz-$$n $(FUZZ_OPTS) $$dict -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n > $$log 2>&1 \
			|| { tail -n 80 $$log; echo "fuzz-$$n: FAILED (log: $$log)"; exit 1; }; \
		echo "fuzz-$$n: $(FUZZ_SECONDS) s, $$(grep -E '^stat::number_of_executed_units' $$log | grep -Eo '[0-9]+$$') execs, $$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' $$log | tail -n 1), corpus $$(grep -Eo 'corp: [0-9]+/[0-9]+[a-zA-Z]*' $$log | tail -n 1)"; \
	done

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
