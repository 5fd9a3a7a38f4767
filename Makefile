# libcalib -- GNU Makefile (conventions of zstd's lib/Makefile).
#
#   make            lib/libcalib.a, lib/libcalib.so.X.Y.Z (+ symlinks), lib/calib.pc, bin/calib
#   make test       every C test and the Python reference tests (installs missing deps first)
#   make check      C tests under ASan+UBSan, and the ThreadSanitizer test
#   make demo       fit temperature scaling on the shipped dataset; before/after table
#   make demo-drift drift alarms, EM prior estimate and automatic rollback on the shipped dataset
#   make bench      side-by-side benchmarks (may install extra Debian packages)
#   make core       lib/libcalib_core.a: the firmware subset (no BLAS, stdio, malloc)
#   make install / uninstall   PREFIX, DESTDIR, LIBDIR, INCLUDEDIR, PKGCONFIGDIR, BINDIR
#   make deps       install missing Debian packages (as root) or print the apt-get line
#   NO_BLAS=1       build without OpenBLAS/LAPACKE/liblbfgs (matrix-family fitters unsupported)

VERSION_MAJOR := $(shell sed -n 's/^\#define CALIB_VERSION_MAJOR \([0-9]*\).*/\1/p' include/calib.h)
VERSION_MINOR := $(shell sed -n 's/^\#define CALIB_VERSION_MINOR \([0-9]*\).*/\1/p' include/calib.h)
VERSION_PATCH := $(shell sed -n 's/^\#define CALIB_VERSION_PATCH \([0-9]*\).*/\1/p' include/calib.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX       ?= /usr/local
EXEC_PREFIX  ?= $(PREFIX)
LIBDIR       ?= $(EXEC_PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(EXEC_PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR      ?=

CC      ?= cc
AR      ?= ar
CFLAGS  ?= -O2 -g
WARNINGS := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wundef -Wformat=2 -Wvla -Wwrite-strings \
            -Wdouble-promotion -Wmissing-declarations
STD      := -std=c99
BASEFLAGS := $(STD) $(WARNINGS) -fPIC -fvisibility=hidden -fno-math-errno
CPPFLAGS_LIB := -Iinclude -Isrc/common -Isrc/kernels -DCALIB_BUILDING_LIBRARY -D_POSIX_C_SOURCE=200809L
LDLIBS_BLAS := $(shell pkg-config --libs openblas lapacke 2>/dev/null || echo -lopenblas -llapacke) -llbfgs
CFLAGS_BLAS := $(shell pkg-config --cflags openblas lapacke 2>/dev/null)

# Debian python with numpy/scipy/sklearn: the python3 first on PATH may lack them.
PYTHON ?= $(shell for p in /usr/bin/python3 python3; do $$p -c 'import numpy' >/dev/null 2>&1 && { echo $$p; break; }; done)

ARCH := $(shell $(CC) -dumpmachine)
ifneq (,$(findstring x86_64,$(ARCH)))
  ISA_SRCS := $(wildcard src/kernels/*_avx2.c src/kernels/*_avx512.c)
  ISA_DEFS := $(if $(ISA_SRCS),-DCALIB_HAVE_X86_KERNELS)
endif
ifneq (,$(findstring aarch64,$(ARCH)))
  ISA_SRCS := $(wildcard src/kernels/*_neon.c)
  ISA_DEFS := $(if $(ISA_SRCS),-DCALIB_HAVE_NEON_KERNELS)
endif
FLAGS_avx2   := -mavx2 -mfma
FLAGS_avx512 := -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mprfchw
FLAGS_neon   :=

GENERIC_KERNEL_SRCS := $(filter-out %_avx2.c %_avx512.c %_neon.c,$(wildcard src/kernels/*.c))
CORE_SRCS   := $(wildcard src/common/*.c) $(GENERIC_KERNEL_SRCS) $(filter-out %_file.c,$(wildcard src/model/*.c))
LIB_SRCS    := $(wildcard src/common/*.c) $(GENERIC_KERNEL_SRCS) $(ISA_SRCS) \
               $(wildcard src/model/*.c src/fit/*.c src/metrics/*.c src/deploy/*.c)
MATRIX_SRCS := $(wildcard src/fit_matrix/*.c)
# NO_BLAS=1: a full library without OpenBLAS/LAPACKE/liblbfgs; the vector,
# matrix and Dirichlet fitters then return CALIB_E_UNSUPPORTED (apply stays).
ifeq ($(NO_BLAS),1)
  MATRIX_SRCS :=
  override CPPFLAGS += -DCALIB_NO_BLAS
endif
LIB_SRCS    += $(MATRIX_SRCS)
IO_SRCS     := $(wildcard src/io/*.c)
CLI_SRCS    := $(wildcard src/cli/*.c)
LIB_LDLIBS  := -lm -pthread $(if $(MATRIX_SRCS),$(LDLIBS_BLAS))

OBJDIR   := build/obj
LIB_OBJS := $(LIB_SRCS:%.c=$(OBJDIR)/%.o)
IO_OBJS  := $(IO_SRCS:%.c=$(OBJDIR)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(OBJDIR)/%.o)

STATIC_LIB := lib/libcalib.a
SHARED_LIB := lib/libcalib.so.$(VERSION)
SONAME     := libcalib.so.$(VERSION_MAJOR)
IO_LIB     := build/libcalib_io.a
CLI        := bin/calib
PCFILE     := lib/calib.pc

TEST_SRCS := $(wildcard test/test_*.c)
TESTDIR   := build/test
TEST_BINS := $(TEST_SRCS:test/%.c=$(TESTDIR)/%)

.PHONY: all lib core install uninstall test check test-c test-py demo demo-drift bench deps deps-check \
        examples clean fuzz header-test install-test print-static-libs
.DELETE_ON_ERROR:

all: lib $(CLI)
lib: $(STATIC_LIB) $(SHARED_LIB) $(PCFILE)

-include $(LIB_OBJS:.o=.d) $(IO_OBJS:.o=.d) $(CLI_OBJS:.o=.d)

# Objects depend on the flags they were compiled with: a change of CFLAGS, or a
# new ISA file appearing (ISA_DEFS), rebuilds them instead of mixing old and new.
FLAGS_STAMP := $(OBJDIR)/.flags
FLAGS_NOW := $(CC) $(CPPFLAGS_LIB) $(ISA_DEFS) $(CPPFLAGS) $(BASEFLAGS) $(CFLAGS) $(FLAGS_avx2) $(FLAGS_avx512)
$(shell mkdir -p $(OBJDIR) && { echo '$(FLAGS_NOW)' | cmp -s - $(FLAGS_STAMP) || echo '$(FLAGS_NOW)' > $(FLAGS_STAMP); })

$(OBJDIR)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_LIB) $(ISA_DEFS) $(CPPFLAGS) $(BASEFLAGS) $(CFLAGS) \
	  $(FLAGS_$(lastword $(subst _, ,$(basename $(notdir $<))))) \
	  $(if $(findstring src/fit_matrix/,$<),$(CFLAGS_BLAS)) -MMD -MP -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(LDFLAGS) -o $@ $^ $(LIB_LDLIBS)
	ln -sf libcalib.so.$(VERSION) lib/$(SONAME)
	ln -sf $(SONAME) lib/libcalib.so

$(PCFILE): pkgconfig/calib.pc.in include/calib.h
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES_PRIVATE@|$(if $(MATRIX_SRCS),openblas lapacke)|' \
	    -e 's|@LIBS_PRIVATE@|-lm -pthread$(if $(MATRIX_SRCS), -llbfgs)|' $< > $@

$(IO_LIB): $(IO_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(CLI): $(CLI_OBJS) $(IO_LIB) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(IO_LIB) $(STATIC_LIB) $(LIB_LDLIBS) -lm

# ---- firmware core: common + scalar kernels + model, no stdio/malloc/BLAS ----
# binning.c: histogram apply shares the metrics' bin convention. On aarch64 the
# NEON kernels are in (fixed at compile time: no cpuid/getenv under CALIB_CORE).
# CORE_OBJDIR/CORE_LIB/CC/AR are overridden for the cross builds below.
CORE_SRCS   += $(wildcard src/metrics/binning.c) $(filter %_neon.c,$(ISA_SRCS))
CORE_DEFS   := $(if $(filter %_neon.c,$(ISA_SRCS)),-DCALIB_HAVE_NEON_KERNELS)
CORE_OBJDIR := build/core
CORE_LIB    := lib/libcalib_core.a
CORE_OBJS   := $(CORE_SRCS:%.c=$(CORE_OBJDIR)/%.o)
CORE_CFLAGS ?= -Os
core: $(CORE_LIB)
-include $(CORE_OBJS:.o=.d)
$(CORE_OBJDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_LIB) -DCALIB_CORE $(CORE_DEFS) $(CPPFLAGS) $(STD) $(WARNINGS) -fno-math-errno \
	  -ffunction-sections -fdata-sections $(CORE_CFLAGS) -MMD -MP -c $< -o $@
$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# ---- firmware (issue 6): Cortex-M4 size report, aarch64/NEON cross tests, fuzzing ----
#   make firmware      the core for a Cortex-M4F (build/m4/) and examples/firmware built for it
#   make size-report   .text/.data/.bss of that core, alone and linked into the example
#                      (both install the ARM toolchain first when $(M4_PREFIX)gcc is missing,
#                      as test-cross does: a fresh machine's `make deps` leaves it out)
#   make test-cross    installs the cross toolchains (sh .ci/deps.sh cross); size report; the
#                      example run on an emulated Cortex-M4 and compared with the host; the
#                      core for aarch64; CROSS_TESTS built -static for aarch64, run under qemu
#   make fuzz          libFuzzer (clang) on each test/fuzz target for FUZZ_SECONDS, then fuzz-replay
#   make fuzz-replay   the corpus through a plain main() built by gcc with ASan+UBSan
M4_PREFIX    ?= arm-none-eabi-
M4_CFLAGS    ?= -Os -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -ffreestanding
A64_PREFIX   ?= aarch64-linux-gnu-
QEMU_A64     ?= qemu-aarch64
CROSS_TESTS  ?= test_core test_neon test_alignment test_rows test_typed
FUZZ_SECONDS ?= 60
A64_OBJS := $(patsubst %.c,build/a64/obj/%.o,$(sort $(CORE_SRCS) $(wildcard src/kernels/*_neon.c src/model/*_file.c)))
.PHONY: firmware size-report test-cross core-m4 core-a64 fuzz fuzz-replay m4-toolchain
m4-toolchain:
	@command -v $(M4_PREFIX)gcc >/dev/null 2>&1 || sh .ci/deps.sh cross
core-m4: m4-toolchain
	@$(MAKE) --no-print-directory core CC=$(M4_PREFIX)gcc AR=$(M4_PREFIX)ar CORE_OBJDIR=build/m4/core \
	  CORE_LIB=build/m4/libcalib_core.a CORE_CFLAGS="$(M4_CFLAGS)"
core-a64:
	@$(MAKE) --no-print-directory core CC=$(A64_PREFIX)gcc AR=$(A64_PREFIX)ar CORE_OBJDIR=build/a64/core \
	  CORE_LIB=build/a64/libcalib_core.a
firmware: core-m4 core $(CLI)
	@$(MAKE) --no-print-directory -C examples/firmware CROSS=$(M4_PREFIX)
size-report: firmware
	@sh examples/firmware/size_report.sh $(M4_PREFIX) build/m4/libcalib_core.a build/firmware/firmware.map
-include $(A64_OBJS:.o=.d)
build/a64/obj/%.o: %.c
	@mkdir -p $(@D)
	$(A64_PREFIX)gcc $(CPPFLAGS_LIB) -DCALIB_HAVE_NEON_KERNELS $(BASEFLAGS) -O2 -g -MMD -MP -c $< -o $@
build/a64/libcalib.a: $(A64_OBJS)
	rm -f $@
	$(A64_PREFIX)ar rcs $@ $^
build/a64/test/%: test/%.c test/harness.h build/a64/libcalib.a
	@mkdir -p $(@D)
	$(A64_PREFIX)gcc $(filter-out $(ISA_DEFS),$(TEST_CFLAGS)) -DCALIB_HAVE_NEON_KERNELS -static -o $@ $< \
	  build/a64/libcalib.a -lm
test-cross:
	@sh .ci/deps.sh cross
	@$(MAKE) --no-print-directory -s size-report core-a64 $(CROSS_TESTS:%=build/a64/test/%)
	@sh test/cross.sh "$(QEMU_A64)" $(CROSS_TESTS)
# FUZZ_FULL_SRCS: the whole library without BLAS, for the params target
# (compiled with -DCALIB_NO_BLAS and FUZZ_ISA_DEFS; SIMD files get their -m flags).
FUZZ_ENV = FUZZ_SRCS="$(sort $(CORE_SRCS) src/model/model_file.c)" IO_SRCS="$(IO_SRCS)" \
  FUZZ_FULL_SRCS="$(sort $(filter-out $(MATRIX_SRCS),$(LIB_SRCS)))" FUZZ_ISA_DEFS="$(ISA_DEFS)"
fuzz:
	@sh .ci/deps.sh fuzz
	@$(FUZZ_ENV) sh test/fuzz/run.sh fuzz $(FUZZ_SECONDS)
fuzz-replay:
	@$(FUZZ_ENV) sh test/fuzz/run.sh replay

# ---- Python (issue 13): `make python` = .venv with numpy (system site packages of
# $(PYTHON), the first python3 that has numpy) and calib installed offline, with
# libcalib.so bundled; `make wheel` = dist/calib-*.whl, libcalib.so inside ----
VENV ?= .venv
.PHONY: python wheel
python: lib
	@[ -n "$(PYTHON)" ] || { echo "make python: no python3 with numpy found; apt-get install python3-numpy (or: make deps)" >&2; exit 1; }
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv --system-site-packages $(VENV)
	@$(VENV)/bin/python -m pip install -q --no-index --no-build-isolation --force-reinstall --no-deps ./python
	@$(VENV)/bin/python -c "import calib, numpy; print('make python: $(VENV)/bin/python (from $(PYTHON)): calib %s, libcalib %s at %s, numpy %s' % (calib.__version__, calib.library_version, calib.library_path, numpy.__version__))"

wheel: lib
	@[ -n "$(PYTHON)" ] || { echo "make wheel: no python3 with numpy found" >&2; exit 1; }
	@$(PYTHON) -m pip wheel -q --no-index --no-build-isolation --no-deps -w dist ./python
	@$(PYTHON) -c "import glob, zipfile; w = sorted(glob.glob('dist/calib-*.whl'))[-1]; libs = [n for n in zipfile.ZipFile(w).namelist() if 'libcalib.so' in n]; print('make wheel: %s bundles %s' % (w, ', '.join(libs) or 'NO libcalib.so')); raise SystemExit(0 if libs else 1)"

# ---- the HTTP service (issue 11, part 5): bin/calib-serve on libmicrohttpd ----
#   make server         bin/calib-serve (src/server/: the public API, src/io's .npy parser, libmicrohttpd)
#   make server SAN=1   build/asan/calib-serve: the library, io and server under ASan+UBSan
#                       (the objects of `make check`'s build/asan, shared with it); SAN=tsan:
#                       build/tsan/calib-serve under ThreadSanitizer
#                       (run either with CALIB_SERVE=build/.../calib-serve sh test/server/run.sh)
#   make test-server    functional test of every endpoint, then wrk under load with model swaps
SERVER        ?= bin/calib-serve
SERVER_OBJDIR ?= build/server
SERVER_SRCS   := $(wildcard src/server/*.c)
SERVER_OBJS   := $(SERVER_SRCS:src/server/%.c=$(SERVER_OBJDIR)/%.o)
SERVER_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
SERVER_CFLAGS := -std=c11 $(WARNINGS) -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc/io \
                 $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
SAN_SERVER_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
.PHONY: server test-server
ifeq ($(SAN),1)
server:
	@$(MAKE) --no-print-directory SAN=0 OBJDIR=build/asan/obj STATIC_LIB=build/asan/libcalib.a \
	  IO_LIB=build/asan/libcalib_io.a CFLAGS="-O1 -g $(SAN_SERVER_FLAGS)" LDFLAGS="$(SAN_SERVER_FLAGS)" \
	  SERVER=build/asan/calib-serve SERVER_OBJDIR=build/asan/server build/asan/calib-serve
else ifeq ($(SAN),tsan)
server:
	@$(MAKE) --no-print-directory SAN=0 OBJDIR=build/tsan/obj STATIC_LIB=build/tsan/libcalib.a \
	  IO_LIB=build/tsan/libcalib_io.a CFLAGS="-O1 -g -fsanitize=thread" LDFLAGS="-fsanitize=thread" \
	  SERVER=build/tsan/calib-serve SERVER_OBJDIR=build/tsan/server build/tsan/calib-serve
else
server: $(SERVER)
endif
-include $(SERVER_OBJS:.o=.d)
$(SERVER_OBJDIR)/%.o: src/server/%.c
	@mkdir -p $(@D)
	$(CC) $(SERVER_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@
$(SERVER): $(SERVER_OBJS) $(IO_LIB) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(SERVER_OBJS) $(IO_LIB) $(STATIC_LIB) $(LIB_LDLIBS) $(SERVER_LIBS) -lm
test-server: deps-check
	@$(MAKE) --no-print-directory all server
	@sh test/server/run.sh "$(PYTHON)"

# ---- tests ----
TEST_CFLAGS := $(STD) -Wall -Wextra -Wno-unused-function -g -O1 -Iinclude -Isrc/common -Isrc/kernels -Isrc/io -Itest \
               $(ISA_DEFS) -D_POSIX_C_SOURCE=200809L
$(TESTDIR)/%: test/%.c test/harness.h $(STATIC_LIB) $(IO_LIB)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(CPPFLAGS) $(CFLAGS_EXTRA) -o $@ $< $(IO_LIB) $(STATIC_LIB) $(LIB_LDLIBS) -lm -lpthread

deps-check:
	@sh .ci/deps.sh check || $(MAKE) --no-print-directory deps

deps:
	@sh .ci/deps.sh install

test: deps-check
	@$(MAKE) --no-print-directory all $(TEST_BINS)
	@sh test/run.sh "$(PYTHON)"

test-c: all $(TEST_BINS)
	@sh test/run.sh "$(PYTHON)" c

test-py: all
	@sh test/run.sh "$(PYTHON)" py

check: deps-check
	@sh test/sanitize.sh

demo: deps-check
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh "$(PYTHON)"

bench: deps-check
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh "$(PYTHON)"

examples: lib
	@$(MAKE) --no-print-directory -C examples TREE=1

# `make demo-drift` (issue 11): drift monitoring, EM prior estimate and automatic
# rollback on the shipped CIFAR-10 logits; examples/drift/demo_drift.c, public API
# only, linked against the static library. Exits non-zero if a stated bound fails.
DRIFT_BIN := build/drift/demo-drift
$(DRIFT_BIN): examples/drift/demo_drift.c include/calib.h $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARNINGS) $(CFLAGS) -Iinclude -o $@ $< $(STATIC_LIB) $(LIB_LDLIBS)

demo-drift: $(DRIFT_BIN)
	@$(DRIFT_BIN) --data data/cifar10_densenet40_markus93

header-test:
	@sh test/header_test.sh

install-test: all
	@sh test/install_test.sh

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 644 include/calib.h include/calib_core.h include/calib.hpp $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libcalib.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcalib.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES_PRIVATE@|$(if $(MATRIX_SRCS),openblas lapacke)|' \
	    -e 's|@LIBS_PRIVATE@|-lm -pthread$(if $(MATRIX_SRCS), -llbfgs)|' pkgconfig/calib.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/calib.pc
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libcalib.a $(DESTDIR)$(LIBDIR)/libcalib.so \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libcalib.so.$(VERSION) \
	      $(DESTDIR)$(INCLUDEDIR)/calib.h $(DESTDIR)$(INCLUDEDIR)/calib_core.h $(DESTDIR)$(INCLUDEDIR)/calib.hpp \
	      $(DESTDIR)$(PKGCONFIGDIR)/calib.pc $(DESTDIR)$(BINDIR)/calib

# What a program linking lib/libcalib.a statically needs after it (bench/ uses it).
print-static-libs:
	@echo $(LIB_LDLIBS)

clean:
	rm -rf build lib/*.a lib/*.so* lib/*.pc bin
