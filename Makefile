# ptuned — one entry point. `make help` lists the targets.
#
# O=DIR puts every build product under DIR (objects in DIR/build, programs in DIR/bin), so that
# several work trees or sanitizer builds never share object files. SAN=1 builds with ASan + UBSan
# into a separate tree.

O       ?= .
SAN     ?= 0
CC      ?= cc
PYTHON  ?= python3
TORCH_PYTHON ?= /usr/bin/python3

ifeq ($(SAN),1)
BUILD   := $(O)/build/san
BIN     := $(O)/build/san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1
else
BUILD   := $(O)/build/rel
BIN     := $(O)/bin
SANFLAGS :=
OPT     := -O2
endif

PKGS     := openblas jansson libmicrohttpd sqlite3
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -D_GNU_SOURCE -Icore -Iserver $(shell pkg-config --cflags $(PKGS))
CFLAGS   += -std=c11 $(OPT) -g -pthread -fopenmp-simd -fno-trapping-math $(WARN) $(SANFLAGS) -MMD -MP
LDFLAGS  += -pthread $(SANFLAGS)
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lm
TEST_LIBS := $(shell pkg-config --libs cmocka)

CORE_SRC   := $(sort $(wildcard core/*.c))
SERVER_SRC := $(sort $(filter-out server/main.c,$(wildcard server/*.c)))
CLI_SRC    := $(sort $(wildcard cli/*.c))
TEST_SRC   := $(sort $(wildcard tests/test-*.c))

CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)

# The daemon carries its migrations and OpenAPI document inside the binary (see server/embedded.h).
MIGRATIONS := $(sort $(wildcard migrations/*.sql))
EMBED_SRC  := $(BUILD)/gen/embedded.c
ifneq ($(SERVER_SRC),)
SERVER_OBJ += $(BUILD)/gen/embedded.o
endif
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS      := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

LIBCORE    := $(BUILD)/libptcore.a
LIBSERVER  := $(BUILD)/libptserver.a

PROGRAMS := $(BIN)/ptune
ifneq ($(wildcard server/main.c),)
PROGRAMS += $(BIN)/ptuned
endif

.PHONY: all test unit integration help clean reference bench run demo default-model fuzz soak tables valgrind
.DEFAULT_GOAL := all

include fuzz/fuzz.mk

all: $(PROGRAMS) $(TESTS) ## build bin/ptune, bin/ptuned and every test program

$(BUILD)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(EMBED_SRC): server/embed.sh $(MIGRATIONS) schema/openapi.yaml
	@mkdir -p $(dir $@)
	{ sh server/embed.sh embedded_migrations $(MIGRATIONS) && \
	  sh server/embed.sh embedded_openapi schema/openapi.yaml | sed 1,3d; } > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/embedded.o: $(EMBED_SRC)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBCORE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(LIBSERVER): $(SERVER_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(BIN)/ptune: $(CLI_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/ptuned: $(BUILD)/server/main.o $(LIBSERVER) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIBSERVER) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(LIBSERVER) $(LIBCORE) $(LDLIBS) $(TEST_LIBS)

# Tests find the programs and the shared data through the environment, never by guessing.
TEST_ENV := PTUNE_BIN=$(abspath $(BIN))/ptune PTUNED_BIN=$(abspath $(BIN))/ptuned \
            PTUNE_SRC=$(abspath .) PTUNE_SHARED=$(abspath ..)/shared PTUNE_TMP=$(abspath $(BUILD))/tmp

test: all ## run every test (unit, reference fixtures, integration)
	@mkdir -p $(BUILD)/tmp
	@$(TEST_ENV) sh tests/run.sh $(TESTS)

# VALGRIND_SKIP: programs left out. By default test-train: 35 minutes under memcheck, and its check that a
# native `ptune classify` gives bit-identical scores cannot hold against valgrind's own floating point
# (its last digit differs; memcheck reports no error in it).
VALGRIND_SKIP ?= test-train
valgrind: all ## run every unit test program (but VALGRIND_SKIP) under valgrind (memcheck, full leak check)
	@mkdir -p $(BUILD)/tmp
	@$(TEST_ENV) sh tests/valgrind.sh $(filter-out $(VALGRIND_SKIP:%=$(BUILD)/tests/%),$(TESTS))

SOAK_SECONDS ?= 600
SOAK_CHECK_RSS ?= $(if $(filter 1,$(SAN)),0,1)
soak: all ## the daemon under mixed load with two restarts for SOAK_SECONDS (default 600); SAN=1: leaks judged by LSan
	@mkdir -p $(BUILD)/tmp
	@$(TEST_ENV) SOAK_SECONDS=$(SOAK_SECONDS) SOAK_CHECK_RSS=$(SOAK_CHECK_RSS) $(PYTHON) tests/soak/soak.py

reference: all ## regenerate the PyTorch reference fixtures (needs python3-torch) and compare live
	$(TEST_ENV) TORCH_PYTHON=$(TORCH_PYTHON) sh tests/reference/make-fixtures.sh

# The bert-base-sized model of `make bench` (400 MB) is generated once and reused.
BENCH_MODEL ?= $(abspath $(O))/build/bench/bert-base

bench: all ## ptune vs PyTorch eager on a generated bert-base-sized model, JSON lines (ratios need torch)
	@mkdir -p $(BUILD)/tmp $(dir $(BENCH_MODEL))
	$(TEST_ENV) TORCH_PYTHON=$(TORCH_PYTHON) BENCH_MODEL=$(BENCH_MODEL) $(PYTHON) bench/run.py

# The built-in backbone `make run` and `make demo` serve when no model is configured: random weights (the
# safetensors metadata names init-model as the generator, so /info reports "pretrained": false), the
# project's own CJK vocabulary, small enough to start at once, std 0.15 so that a prompt can learn
# through it. Order-only on ptune: rebuilding ptune must not change the weights, or prompts trained on
# them would no longer match the fingerprint.
DEFAULT_MODEL := $(O)/build/default-model
DEFAULT_MODEL_ARGS := --cjk-vocab --layers 2 --hidden 128 --heads 4 --intermediate 512 --seed 20240 --std 0.15

default-model: $(DEFAULT_MODEL)/model.safetensors ## generate the built-in random-weight backbone into build/default-model

$(DEFAULT_MODEL)/model.safetensors: | $(BIN)/ptune
	rm -rf $(DEFAULT_MODEL).tmp
	$(BIN)/ptune init-model --out $(DEFAULT_MODEL).tmp $(DEFAULT_MODEL_ARGS)
	rm -rf $(DEFAULT_MODEL) && mv $(DEFAULT_MODEL).tmp $(DEFAULT_MODEL)

# A model named by PTUNED_MODEL or ARGS="--model DIR" wins; otherwise the built-in one is generated and used.
run: $(PROGRAMS) ## build and start the daemon on 127.0.0.1:8080 (ARGS="--flag value ..." are passed on)
	@set --; case " $(ARGS) " in *" --model"*) ;; *) if [ -z "$$PTUNED_MODEL" ]; then \
	    $(MAKE) -s --no-print-directory default-model && set -- --model $(DEFAULT_MODEL) && \
	    echo "make run: no PTUNED_MODEL or --model: serving the built-in random-weight backbone $(DEFAULT_MODEL)" \
	         "(it has learned no language; deploy/fetch-model.sh downloads a real one)"; fi;; esac; \
	exec $(BIN)/ptuned "$$@" $(ARGS)

demo: $(PROGRAMS) ## start the daemon on a scratch database, walk the README's curl flow on deploy/demo/, stop it
	@if [ -z "$$PTUNED_MODEL" ]; then $(MAKE) -s --no-print-directory default-model; fi
	@PTUNED_BIN=$(BIN)/ptuned PTUNED_MODEL=$${PTUNED_MODEL:-$(DEFAULT_MODEL)} DEMO_DIR=$(BUILD)/demo \
	    sh deploy/demo/demo.sh

tables: ## regenerate core/unicode_tables.c from the Unicode Character Database (Debian unicode-data)
	$(PYTHON) core/gen_unicode_tables.py /usr/share/unicode > core/unicode_tables.c.tmp
	mv core/unicode_tables.c.tmp core/unicode_tables.c

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort | expand -t 14

clean: ## remove build products
	rm -rf $(O)/build $(O)/bin

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
