# Makefile - a thin wrapper over CMake, as neovim's is. CMakeLists.txt is the
# build; this file picks build directories and flags, and checks that the
# Debian packages are installed before `make run`, `make test` and
# `make install`.

CMAKE ?= cmake
CTEST ?= ctest
JOBS ?= 2
# ON turns warnings into errors (CI sets it); any -D flags can go in
# CMAKE_EXTRA_FLAGS.
LUAIO_WERROR ?= OFF
CMAKE_EXTRA_FLAGS ?=
# `make install PREFIX=... [DESTDIR=...]`; `make uninstall` removes what the
# last install wrote (give it the same DESTDIR).
PREFIX ?= /usr/local

DEBIAN_PACKAGES := lua5.4 liblua5.4-dev libuv1-dev lua-busted cmake \
                   pkg-config gcc make luarocks libssl-dev openssl \
                   libreadline-dev

BUILD_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)
ASAN_FLAGS := -DCMAKE_BUILD_TYPE=Debug -DLUAIO_ASAN=ON -DLUAIO_UBSAN=ON
VALGRIND_FLAGS := -DCMAKE_BUILD_TYPE=Debug -DLUAIO_VALGRIND=ON

# Keeps "Entering directory" lines out of this make's and CMake's sub-makes.
MAKEFLAGS += --no-print-directory
SUBMAKE := $(MAKE)

# $(call configure,<dir>,<flags>) configures <dir> unless it was already
# configured with the same flags. After that, `cmake --build` re-runs CMake by
# itself whenever a CMakeLists.txt or a globbed directory changes.
define configure
@flags='$(strip $(2) -DLUAIO_WERROR=$(LUAIO_WERROR) $(CMAKE_EXTRA_FLAGS))'; \
if [ ! -f $(1)/CMakeCache.txt ] || [ ! -f $(1)/.ran-cmake ] || \
   [ "$$(cat $(1)/.ran-cmake)" != "$$flags" ]; then \
  echo "$(CMAKE) -S . -B $(1) $$flags"; \
  $(CMAKE) -S . -B $(1) $$flags && printf '%s\n' "$$flags" > $(1)/.ran-cmake; \
fi
endef

# $(call check_deps,<packages>) installs missing packages when run as root,
# and otherwise says which are missing and fails.
define check_deps
@if ! command -v dpkg-query >/dev/null 2>&1; then \
  echo "dpkg-query not found: not checking for Debian packages"; \
else \
  missing=; \
  for pkg in $(1); do \
    dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'ok installed' \
      || missing="$$missing $$pkg"; \
  done; \
  missing=$${missing# }; \
  if [ -n "$$missing" ]; then \
    if [ "$$(id -u)" = 0 ]; then \
      echo "installing missing Debian packages: $$missing"; \
      apt-get update && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
    else \
      echo "missing Debian packages: $$missing" >&2; \
      echo "install them with: sudo apt-get install -y $$missing" >&2; \
      exit 1; \
    fi; \
  fi; \
fi
endef

.PHONY: all build deps run test install uninstall asan valgrind bench soak \
        difftest clean format

all: build

build:
	$(call configure,build,$(BUILD_FLAGS))
	$(CMAKE) --build build -j$(JOBS)

deps:
	$(call check_deps,$(DEBIAN_PACKAGES))

run:
	@$(SUBMAKE) deps
	@$(SUBMAKE) build
	build/luaio examples/tour.lua

# ctest prints its summary last; nothing may run after it.
test:
	@$(SUBMAKE) deps
	@$(SUBMAKE) build
	cd build && $(CTEST) --output-on-failure --no-label-summary -j$(JOBS)

install:
	@$(SUBMAKE) deps
	@$(SUBMAKE) build
	DESTDIR="$(DESTDIR)" $(CMAKE) --install build
	@# The loader finds a new libluaio.so.* in /usr/local/lib only once its
	@# cache is rebuilt.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	   command -v ldconfig >/dev/null 2>&1; then echo ldconfig; ldconfig; fi

uninstall:
	DESTDIR="$(DESTDIR)" $(CMAKE) -DMANIFEST=build/install_manifest.txt \
	  -P cmake/uninstall.cmake

asan:
	@$(SUBMAKE) deps
	$(call configure,build-asan,$(ASAN_FLAGS))
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
	  $(CTEST) --output-on-failure --no-label-summary -j$(JOBS)

valgrind:
	$(call check_deps,$(DEBIAN_PACKAGES) valgrind)
	$(call configure,build-valgrind,$(VALGRIND_FLAGS))
	$(CMAKE) --build build-valgrind -j$(JOBS)
	cd build-valgrind && $(CTEST) --output-on-failure --no-label-summary -j$(JOBS)

# bench/run builds its own Release luaio in build-bench/.
bench:
	./bench/run

# Waves of random mixes, 10^6 tasks, 10^4 connections and 10^3
# subprocesses; fails if memory or descriptors grow after warm-up. Minutes
# long, so not part of `make test`. SOAK_WAVES, SOAK_SEEDS, SOAK_PARTS tune it.
soak:
	@$(SUBMAKE) deps
	@$(SUBMAKE) build
	build/luaio spec/soak.lua

# Random programs through luaio and CPython's asyncio, outputs compared (not
# in CI: it needs python3, ideally 3.13). DIFFTEST_FLAGS, e.g. --seeds 1000.
DIFFTEST_FLAGS ?=
difftest:
	@$(SUBMAKE) build
	python3 test/difftest.py --luaio build/luaio --keep build/difftest \
	  $(DIFFTEST_FLAGS)

clean:
	rm -rf build build-asan build-valgrind build.luarocks

format:
	@files=$$(find core bindings -name '*.[ch]' 2>/dev/null | sort); \
	if [ -n "$$files" ]; then \
	  echo "clang-format -i" $$files; clang-format -i $$files; \
	fi
