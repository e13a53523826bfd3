# ebpfsentinel — every entry point installs what it needs, builds everything, then runs.
SHELL := /bin/bash
.DEFAULT_GOAL := build

CLANG ?= clang
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BPF_CFLAGS := -target bpf -mcpu=v3 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-D__TARGET_ARCH_$(ARCH) -I bpf/include -I /usr/include/$(MULTIARCH)

BPF_SRCS := $(wildcard bpf/programs/*.bpf.c)
BPF_OBJS := $(patsubst bpf/programs/%.bpf.c,build/bpf/%.bpf.o,$(BPF_SRCS))
BPF_TEST_SRCS := $(wildcard test/kernel/progs/*.bpf.c)
BPF_TEST_OBJS := $(patsubst test/kernel/progs/%.bpf.c,build/bpf-test/%.bpf.o,$(BPF_TEST_SRCS))
# xdp-ratelimit with no compare-and-swap attempts: every meter update "loses", so a kernel test
# can check how such packets are counted without racing CPUs (xdp_ratelimit.bpf.c RL_CAS_TRIES).
BPF_TEST_OBJS += build/bpf-test/xdp_ratelimit_cas0.bpf.o
# The product's programs built with -O3: other instructions, the same maps and behaviour. The
# fail-static e2e restarts the agent onto them to test an upgrade (programs replaced in place).
BPF_TEST_OBJS += $(patsubst bpf/programs/%.bpf.c,build/bpf-upgrade/%.bpf.o,$(BPF_SRCS))
BPF_BENCH_SRCS := $(wildcard bench/progs/*.bpf.c)
BPF_BENCH_OBJS := $(patsubst bench/progs/%.bpf.c,build/bpf-bench/%.bpf.o,$(BPF_BENCH_SRCS))
# xdp-firewall counting what each classifier lookup took (xdp_firewall.bpf.c FW_WALK_STATS): the
# bench runs its frames through it once to report their walk; it never times it.
BPF_BENCH_OBJS += build/bpf-bench/xdp_firewall_walkstats.bpf.o
# The ring-buffer bench's C ends: the test-run producer loop and the ring's own limit (a libbpf
# consumer that only counts), pinned to CPUs of their own (bench/tools/ring-tool.c).
BENCH_TOOLS := build/bench/ring-tool
BPF_HDRS := $(wildcard bpf/include/sentinel/lib/*.h bpf/include/sentinel/contract/*.h)
NATIVE_SRCS := $(wildcard native/src/*.c native/src/*.h) native/binding.gyp
NATIVE := native/build/Release/sentinel.node
LAYOUTS := src/kernel/layouts.gen.ts
ENUMS := src/kernel/contract.gen.ts

TOOL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -I bpf/include

.PHONY: deps build bpf native tools ts loadcheck layers test test-unit test-kernel test-e2e demo bench clean

deps:
	@scripts/install-deps.sh

build: deps bpf native tools $(LAYOUTS) $(ENUMS) ts loadcheck

bpf: $(BPF_OBJS) $(BPF_TEST_OBJS) $(BPF_BENCH_OBJS)

build/bpf/%.bpf.o: bpf/programs/%.bpf.c $(BPF_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/bpf-test/%.bpf.o: test/kernel/progs/%.bpf.c $(BPF_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/bpf-test/xdp_ratelimit_cas0.bpf.o: bpf/programs/xdp_ratelimit.bpf.c $(BPF_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -DRL_CAS_TRIES=0 -c $< -o $@

build/bpf-upgrade/%.bpf.o: bpf/programs/%.bpf.c $(BPF_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(subst -O2,-O3,$(BPF_CFLAGS)) -c $< -o $@

# Bench programs may include the product's headers.
build/bpf-bench/%.bpf.o: bench/progs/%.bpf.c $(BPF_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/bpf-bench/xdp_firewall_walkstats.bpf.o: bpf/programs/xdp_firewall.bpf.c $(BPF_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -DFW_WALK_STATS=1 -c $< -o $@

tools: $(BENCH_TOOLS)

build/bench/%: bench/tools/%.c $(BPF_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) $< -o $@ -lbpf -lelf -lz

native: $(NATIVE)

$(NATIVE): $(NATIVE_SRCS)
	cd native && ../node_modules/.bin/node-gyp rebuild --nodedir=/usr --silent

# The kernel contract in TS, generated from the built objects' BTF (bpf/include/sentinel/contract/):
# struct layouts and enum constants. Never edited by hand, never committed.
$(LAYOUTS): $(BPF_OBJS) $(NATIVE) scripts/gen-layouts.mjs scripts/contract-btf.mjs
	node scripts/gen-layouts.mjs $(BPF_OBJS) > $@.tmp && mv $@.tmp $@

$(ENUMS): $(BPF_OBJS) $(NATIVE) scripts/gen-enums.mjs scripts/contract-btf.mjs
	node scripts/gen-enums.mjs $(BPF_OBJS) > $@.tmp && mv $@.tmp $@

ts: $(LAYOUTS) $(ENUMS)
	node_modules/.bin/tsc -p tsconfig.json

# Loads every built object into the kernel; a program the verifier rejects fails the build
# with the verifier log printed.
loadcheck:
	node dist/scripts/load-check.js $(BPF_OBJS)

# The import rules of .dependency-cruiser.cjs (docs/architecture.md "Import rules") over the
# TypeScript sources: any violation fails, and so fails `make test`.
layers: deps
	node_modules/.bin/depcruise src test bench scripts --config .dependency-cruiser.cjs --output-type err

TEST_FLAGS := --test-concurrency=1

test: build layers
	node --test $(TEST_FLAGS) dist/test/unit/ dist/test/kernel/ dist/test/e2e/

test-unit: build
	node --test $(TEST_FLAGS) dist/test/unit/

test-kernel: build
	node --test $(TEST_FLAGS) dist/test/kernel/

test-e2e: build
	node --test $(TEST_FLAGS) dist/test/e2e/

demo: build
	./bin/ebpfsentinel demo

bench: build
	node dist/bench/run.js
	node dist/bench/threatintel.js

clean:
	rm -rf build dist native/build $(LAYOUTS) $(ENUMS)
