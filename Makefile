# pagesim — the two commands of the README:
#   make run    install what is missing, build, replay the default trace
#   make test   install what is missing, build, run every test (plain, ASan+UBSan, TSan)
# Other targets: build, bench, fuzz, format, tidy, clean.

JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
PAGESIM := build/pagesim
DEFAULT_TRACE := traces/default.trace

.PHONY: all deps build run test test-unit test-tools test-asan test-tsan bench fuzz format tidy clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j$(JOBS)

run: build
	$(PAGESIM) replay $(DEFAULT_TRACE)

test: build
	@$(MAKE) --no-print-directory test-unit test-tools test-asan test-tsan
	@echo "make test: all suites passed"

test-unit: build
	ctest --test-dir build --output-on-failure

test-tools: deps
	cd tools && python3 -m unittest discover -s tests -t . -v 2>&1 | tail -n 5

# Memory code under AddressSanitizer and UndefinedBehaviorSanitizer: every test.
test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAGESIM_SANITIZE=address \
	  -DPAGESIM_BENCH=OFF >/dev/null
	@cmake --build build-asan -j$(JOBS)
	PAGESIM_SANITIZED=1 ctest --test-dir build-asan --output-on-failure

# Concurrent code under ThreadSanitizer: the *Concurrency* suites.
test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAGESIM_SANITIZE=thread \
	  -DPAGESIM_BENCH=OFF >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	PAGESIM_SANITIZED=1 TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure

bench: build
	@echo "Benchmarks: see docs/benchmarks.md for how to run and read them."
	cmake --build build -j$(JOBS) --target benchmarks

fuzz:
	@sh scripts/install-deps.sh fuzz
	@cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPAGESIM_FUZZ=ON -DPAGESIM_BENCH=OFF >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_trace_parser

format:
	find src tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

tidy: build
	find src -name '*.cc' | xargs clang-tidy -p build --quiet

clean:
	rm -rf build build-asan build-tsan build-fuzz
