# Emma — build, run and test.
#   make run    install what is missing, build, serve on SQLite in ./data
#   make test   install what is missing, build, run every test
# Sources are found by wildcard: a new src/**/*.c or tests/unit/test_*.c needs no edit here.

CC      ?= cc
CLANG   ?= clang
PKGS    := libuv jansson sqlite3 libsodium inih libcrypto zlib libpcre2-8 libmaxminddb libcurl libcmark
LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

# SQLite: SQLITE=bundled (default) compiles the amalgamation scripts/deps.sh
# fetches (pinned there) once, with SQLITE_DEFS, into an object every build
# variant links; SQLITE=system links Debian's libsqlite3 instead
# (docs/operations.md, "SQLite build").
SQLITE  ?= bundled
SQLITE_DIR := third_party/sqlite
ifeq ($(SQLITE),bundled)
  PKGS  := $(filter-out sqlite3,$(PKGS))
  SQLITE_INC := -I$(SQLITE_DIR)
else ifneq ($(SQLITE),system)
  $(error SQLITE must be system or bundled, not $(SQLITE))
endif
# SQLite's recommended options (sqlite.org/compile.html) where Emma does not
# need the feature; Debian's defaults where Emma's behaviour depends on them
# (secure_delete on, UPDATE/DELETE ... LIMIT, 250000 variables, math
# functions); and what Debian's configure detects on glibc (HAVE_*:
# fdatasync instead of fsync, malloc_usable_size, usleep). Emma opens every
# connection SQLITE_OPEN_NOMUTEX, so THREADSAFE=2 (no per-connection mutex).
# ENABLE_QPSG: plans never depend on bound values, as with Debian's 3.40;
# without it SQLite 3.5x marks most statements with "x = ?" or "LIMIT ?" to
# be re-planned when a binding changes, and sqlite3_clear_bindings() (every
# em_stmt_done) then re-prepares the cached statement at each use.
SQLITE_DEFS := -DSQLITE_THREADSAFE=2 -DSQLITE_DQS=0 -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_ENABLE_QPSG \
	-DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_MAX_EXPR_DEPTH=0 -DSQLITE_USE_ALLOCA \
	-DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_OMIT_PROGRESS_CALLBACK \
	-DSQLITE_OMIT_DECLTYPE -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_STRICT_SUBTYPE=1 \
	-DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT \
	-DSQLITE_SECURE_DELETE -DSQLITE_MAX_VARIABLE_NUMBER=250000 \
	-DHAVE_FDATASYNC=1 -DHAVE_GMTIME_R=1 -DHAVE_LOCALTIME_R=1 -DHAVE_ISNAN=1 -DHAVE_MALLOC_H=1 \
	-DHAVE_MALLOC_USABLE_SIZE=1 -DHAVE_STRCHRNUL=1 -DHAVE_POSIX_FALLOCATE=1 -DHAVE_USLEEP=1 \
	-DHAVE_NANOSLEEP=1 -DHAVE_FCHOWN=1 -DHAVE_READLINK=1 -DHAVE_LSTAT=1 -DHAVE_UTIME=1 \
	-DHAVE_STRERROR_R=1 -DHAVE_STDINT_H=1 -DHAVE_INTTYPES_H=1
# Plain -O2 in every variant, also SAN=1 and the fuzz build: like Debian's
# library there, SQLite itself is not instrumented.
SQLITE_CFLAGS := -O2 -g -w $(SQLITE_DEFS)

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wformat=2
CFLAGS_BASE := -std=gnu11 -g -D_GNU_SOURCE -Isrc -I$(LLHTTP_INC) -Ibuild/gen $(SQLITE_INC) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
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
# One object for every variant (default, SAN=1, fuzz): it is built with the
# same flags in all of them.
SQLITE_OBJ := $(SQLITE_DIR)/sqlite3.o
SQLITE_OBJS := $(if $(SQLITE_INC),$(SQLITE_OBJ))
ALL_OBJS := $(OBJS) $(LLHTTP_OBJS) $(GEN_OBJS) $(SQLITE_OBJS)
# Names the SQLite of the last link in this build dir: switching SQLITE=
# relinks (the objects of src/ build against either sqlite3.h).
SQLITE_STAMP := $(BUILD)/sqlite.$(SQLITE)
WEB_FILES := $(shell find web -type f ! -name '*.md' | sort)
MIGRATIONS := $(sort $(wildcard src/store/migrations/*.sql))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
EMMA    := $(if $(filter 1,$(SAN)),$(BUILD)/emma,emma)

.PHONY: all deps run test unit e2e browser asan fuzz fuzz-short bench soak clean check-src format
all: $(EMMA)

deps:
	@EMMA_SQLITE=$(SQLITE) scripts/deps.sh

$(EMMA): $(BUILD)/obj/main.o $(ALL_OBJS) $(SQLITE_STAMP)
	$(CC) $(LDSAN) -o $@ $(filter %.o,$^) $(LIBS)

$(BUILD)/obj/%.o: src/%.c $(shell find src -name '*.h') | $(BUILD)/gen-stamp $(if $(SQLITE_INC),$(SQLITE_DIR)/sqlite3.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) -w -c -o $@ $<

$(SQLITE_STAMP):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/sqlite.system $(BUILD)/sqlite.bundled && touch $@

# The amalgamation: fetched when missing (a new pin: make deps SQLITE=bundled).
$(SQLITE_DIR)/sqlite3.c $(SQLITE_DIR)/sqlite3.h:
	scripts/deps.sh sqlite

$(SQLITE_OBJ): $(SQLITE_DIR)/sqlite3.c $(SQLITE_DIR)/sqlite3.h $(SQLITE_DIR)/cflags
	$(CC) $(SQLITE_CFLAGS) -c -o $@ $<

# Rewritten only when SQLITE_CFLAGS change, so that an edit of them (and no
# other edit of this file) recompiles sqlite3.c.
$(SQLITE_DIR)/cflags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(SQLITE_CFLAGS)' | cmp -s - $@ || echo '$(SQLITE_CFLAGS)' >$@

.PHONY: FORCE
FORCE:

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
$(BUILD)/tests/%: tests/unit/%.c $(ALL_OBJS) $(SQLITE_STAMP)
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
	$(FUZZ_DIR)/obj/gen/assets.o $(FUZZ_DIR)/obj/gen/migrations.o $(FUZZ_DIR)/obj/gen/uadata.o \
	$(SQLITE_OBJS)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

.PHONY: fuzz-build
fuzz-build: $(FUZZ_OBJS) $(FUZZ_BINS)

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS) $(FUZZ_DIR)/sqlite.$(SQLITE)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(filter-out -Werror,$(WARN)) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LIBS)

$(FUZZ_DIR)/sqlite.$(SQLITE):
	@mkdir -p $(FUZZ_DIR) && rm -f $(FUZZ_DIR)/sqlite.system $(FUZZ_DIR)/sqlite.bundled && touch $@

$(FUZZ_DIR)/obj/%.o: src/%.c $(shell find src -name '*.h') | build/gen/assets.c build/gen/migrations.c $(if $(SQLITE_INC),$(SQLITE_DIR)/sqlite3.h)
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
