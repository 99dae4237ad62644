# pagesim — the two commands of the README:
#   make run    install what is missing, build, replay the default trace
#   make test   install what is missing, build, run every test (plain, ASan+UBSan, TSan)
# Other targets: build, bench, fuzz, format, tidy, clean.

JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
PAGESIM := build/pagesim
DEFAULT_TRACE := traces/default.trace

.PHONY: all deps build run test test-unit test-tools test-asan test-tsan bench fuzz plot-deps graphviz-deps regression-traces stress-traces format tidy clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPAGESIM_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j$(JOBS)

run: build
	$(PAGESIM) replay $(DEFAULT_TRACE)

test: build
	@$(MAKE) --no-print-directory test-unit test-tools test-asan test-tsan
	@echo "make test: all suites passed"

test-unit: build
	ctest --test-dir build --output-on-failure

test-tools: deps
	cd tools && python3 -m unittest discover -s tests -t .

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
	@cmake -S . -B build -DPAGESIM_BENCH=ON >/dev/null
	cmake --build build -j$(JOBS) --target benchmarks

fuzz:
	@sh scripts/install-deps.sh fuzz
	@cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPAGESIM_FUZZ=ON -DPAGESIM_BENCH=OFF >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_trace_parser

# Regression traces: every trace of traces/ops (and the default one) replayed with every outcome
# pinned (docs/replay.md, "--record"). Rerun after a deliberate change of semantics or encoding.
regression-traces: build
	@for t in traces/ops/*.trace traces/default.trace; do \
	  $(PAGESIM) replay --no-progress --record traces/regression/$$(basename $$t) $$t >/dev/null || exit 1; \
	done
	@echo "regression traces written to traces/regression/"

# Big multithreaded stress traces from tracegen (not bundled: millions of lines), replayed.
STRESS_LINES ?= 2M
stress-traces: build
	@mkdir -p build/stress
	tools/tracegen --pattern mixed --cpus 4 --share contended --lines $(STRESS_LINES) --seed 1 -o build/stress/contended.trace
	tools/tracegen --pattern random --cpus 8 --share disjoint --lines $(STRESS_LINES) --seed 2 -o build/stress/disjoint.trace
	tools/tracegen --pattern huge --cpus 4 --share contended --lines $(STRESS_LINES) --seed 3 -o build/stress/huge.trace
	$(PAGESIM) replay build/stress/contended.trace build/stress/disjoint.trace build/stress/huge.trace

# Optional packages: matplotlib for `tools/tracestat plot`, graphviz for `pagesim dump --format svg`.
plot-deps:
	@sh scripts/install-deps.sh plot

graphviz-deps:
	@sh scripts/install-deps.sh graphviz

format:
	find src tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

tidy: build
	find src -name '*.cc' | xargs clang-tidy -p build --quiet

clean:
	rm -rf build build-asan build-tsan build-fuzz
