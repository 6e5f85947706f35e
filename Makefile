# Emma — build, run and test.
#   make run    install what is missing, build, serve on SQLite in ./data
#   make test   install what is missing, build, run every test
# Sources are found by wildcard: a new src/**/*.c or tests/unit/test_*.c needs no edit here.

CC      ?= cc
CLANG   ?= clang
PKGS    := libuv jansson sqlite3 libsodium inih libcrypto zlib libpcre2-8 libmaxminddb libcurl libcmark
LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wformat=2
CFLAGS_BASE := -std=gnu11 -g -D_GNU_SOURCE -Isrc -I$(LLHTTP_INC) -Ibuild/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lwslay -lstemmer -lpthread -lm

# Build variants: default (-O2), SAN=1 (ASan+UBSan, build-asan/).
ifeq ($(SAN),1)
  BUILD  := build-asan
  OPT    := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -DEM_DEBUG
  LDSAN  := -fsanitize=address,undefined
else
  BUILD  := build
  OPT    := -O2
  LDSAN  :=
endif
CFLAGS  := $(CFLAGS_BASE) $(OPT) $(WARN)

SRCS    := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS    := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LLHTTP_OBJS := $(BUILD)/obj/llhttp/llhttp.o $(BUILD)/obj/llhttp/api.o $(BUILD)/obj/llhttp/http.o
GEN_OBJS := $(BUILD)/obj/gen/assets.o $(BUILD)/obj/gen/migrations.o $(BUILD)/obj/gen/uadata.o
ALL_OBJS := $(OBJS) $(LLHTTP_OBJS) $(GEN_OBJS)
WEB_FILES := $(shell find web -type f ! -name '*.md' | sort)
MIGRATIONS := $(sort $(wildcard src/store/migrations/*.sql))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
EMMA    := $(if $(filter 1,$(SAN)),$(BUILD)/emma,emma)

.PHONY: all deps run test unit e2e browser asan fuzz fuzz-short bench soak clean check-src format
all: $(EMMA)

deps:
	@scripts/deps.sh

$(EMMA): $(BUILD)/obj/main.o $(ALL_OBJS)
	$(CC) $(LDSAN) -o $@ $^ $(LIBS)

$(BUILD)/obj/%.o: src/%.c $(shell find src -name '*.h') | $(BUILD)/gen-stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) -w -c -o $@ $<

# Generated sources: web assets and migrations embedded into the binary.
build/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $< $(shell pkg-config --cflags --libs zlib)

build/gen/assets.c: build/tools/embed $(WEB_FILES)
	@mkdir -p build/gen
	build/tools/embed assets web $(WEB_FILES) > $@.tmp && mv $@.tmp $@

build/gen/migrations.c: build/tools/embed $(MIGRATIONS)
	@mkdir -p build/gen
	build/tools/embed migrations src/store/migrations $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

# User-agent and bot rules from the npm packages uap-core and isbot (make deps
# installs them); missing, the converter says so.
build/gen/uadata.c: tools/uadata.mjs $(wildcard node_modules/uap-core/regexes.yaml node_modules/isbot/package.json)
	@mkdir -p build/gen
	node tools/uadata.mjs node_modules/uap-core/regexes.yaml node_modules/isbot > $@.tmp && mv $@.tmp $@

$(BUILD)/gen-stamp: build/gen/assets.c build/gen/migrations.c
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) -c -o $@ $<

# Unit tests: one cmocka binary per tests/unit/test_*.c, linked with everything but main.
$(BUILD)/tests/%: tests/unit/%.c $(ALL_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(ALL_OBJS) $(LDSAN) $(LIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BINS)
	@scripts/run-unit.sh $(UNIT_BINS)

# Each e2e file starts its own emma on a free port with its own data, so two
# files run side by side.
E2E_JOBS ?= 2

e2e: $(EMMA)
	EMMA_BIN=$(abspath $(EMMA)) node --test --test-concurrency=$(E2E_JOBS) tests/e2e/

browser: $(EMMA)
	EMMA_BIN=$(abspath $(EMMA)) node --test --test-concurrency=1 tests/browser/

asan:
	$(MAKE) SAN=1 unit
	$(MAKE) SAN=1 build-asan/emma
	EMMA_BIN=$(abspath build-asan/emma) EMMA_SAN=1 node --test --test-concurrency=$(E2E_JOBS) tests/e2e/

check-src:
	@scripts/check-src.sh

run: deps $(EMMA)
	./emma serve

test: deps
	$(MAKE) check-src
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) browser
	$(MAKE) asan
	$(MAKE) fuzz-short

fuzz-short:
	@scripts/fuzz.sh 10

fuzz:
	@scripts/fuzz.sh 600

# libFuzzer targets: tests/fuzz/fuzz_*.c -> build-fuzz/fuzz_*, linked with every
# src object but main, all compiled by clang with ASan+UBSan and coverage.
# Warnings are shown but not fatal here: clang warns about things gcc does not,
# and the gcc build (-Werror) is the one that gates.
FUZZ_DIR    := build-fuzz
FUZZ_CFLAGS := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -DEM_DEBUG -DEM_FUZZING \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJS   := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRCS)) \
	$(FUZZ_DIR)/obj/llhttp/llhttp.o $(FUZZ_DIR)/obj/llhttp/api.o $(FUZZ_DIR)/obj/llhttp/http.o \
	$(FUZZ_DIR)/obj/gen/assets.o $(FUZZ_DIR)/obj/gen/migrations.o $(FUZZ_DIR)/obj/gen/uadata.o
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

.PHONY: fuzz-build
fuzz-build: $(FUZZ_OBJS) $(FUZZ_BINS)

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(filter-out -Werror,$(WARN)) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LIBS)

$(FUZZ_DIR)/obj/%.o: src/%.c $(shell find src -name '*.h') | build/gen/assets.c build/gen/migrations.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(filter-out -Werror,$(WARN)) -c -o $@ $<

$(FUZZ_DIR)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ_DIR)/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -w -c -o $@ $<

bench: deps all
	@bench/run.sh

soak: deps all
	@bench/soak.sh

format:
	clang-format -i $(SRCS) $(shell find src -name '*.h') tests/unit/*.c tests/fuzz/*.c

clean:
	rm -rf build build-asan build-fuzz emma
