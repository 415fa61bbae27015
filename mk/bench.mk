# mk/bench.mk - `make bench`: the conv layers of LeNet-5, ResNet-18, VGG-16 and MobileNetV1
# on the simulated board (docs/bench.md). Writes build/bench.txt (the table), build/bench.json
# and a roofline plot per suite, build/roofline_<suite>.svg; then the same suites with
# `--network` (layers that follow one another as one network, intermediates kept on the
# board where they fit): build/bench_network.{txt,json}, build/roofline_<suite>_network.svg.
# First, `make bench-host`: how fast libcbr's host side handles a link's bytes (CRC, packets)
# on this machine, build/bench_host.txt (tools/bench_host.c).
# `make bench BENCH_NETWORK=0` skips the second run; BENCH_NETWORK=only runs only the second.
#
#   make bench                                    sim:16x16, every suite, 200 MHz, 400 MB/s
#   make bench BENCH_SUITE=lenet BENCH_DEVICE=sim:8x8 BENCH_LINK=800
#   make bench BENCH_SUITE=resnet18 BENCH_LATENCY=5   a link latency of 5 us each way
#   make bench BENCH_ARGS="--seed 1 --no-verify"
#
# The table and the plots are produced even when some layers are refused or differ; the
# target then fails with cbr bench's exit status.

BENCH_DEVICE ?= sim:$(SIM_DEFAULT)
BENCH_SUITE ?= all
BENCH_CLOCK ?= 200
BENCH_LINK ?= 400
BENCH_LATENCY ?= 0
BENCH_ARGS ?=
BENCH_NETWORK ?= 1

# The sim board the device needs (none for cpu); expanded when the recipe runs, after
# mk/sim.mk has set SIM_DEFAULT.
bench_sim_lib = $(patsubst sim:%,$(BUILD)/sim/libcbrsim_%.so,$(filter sim:%,$(patsubst sim,sim:$(SIM_DEFAULT),$(BENCH_DEVICE))))

.PHONY: bench bench-host test-bench

$(BENCH_HOST): tools/bench_host.c $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP $< -o $@ $(LDFLAGS_ALL) $(LIBA) $(LIBS)

bench-host: $(BENCH_HOST) ## libcbr's host side per byte of link traffic (CRC, packets) -> build/bench_host.txt
	$(BENCH_HOST) --link $(BENCH_LINK) | tee $(BUILD)/bench_host.txt
# One run of cbr bench: $(call bench_run,OUTPUT NAME,EXTRA ARGS); the table and plots are
# made even when a layer fails, and the status is kept in rc.
bench_run = \
	echo "$(CBR) bench -d $(BENCH_DEVICE) --suite $(BENCH_SUITE) --clock $(BENCH_CLOCK) --link $(BENCH_LINK) --latency $(BENCH_LATENCY) --json $(BUILD)/$(1).json $(2) $(BENCH_ARGS) | tee $(BUILD)/$(1).txt"; \
	$(CBR) bench -d $(BENCH_DEVICE) --suite $(BENCH_SUITE) --clock $(BENCH_CLOCK) \
	    --link $(BENCH_LINK) --latency $(BENCH_LATENCY) --json $(BUILD)/$(1).json $(2) \
	    $(BENCH_ARGS) | tee $(BUILD)/$(1).txt || rc=$$?; \
	if [ -f $(BUILD)/$(1).json ]; then \
	    $(PYTHON) tools/roofline.py $(BUILD)/$(1).json $(BUILD) || rc=1; \
	fi

bench: $(CBR) $(BENCH_HOST) ## cbr bench of 4 networks on sim:16x16, layer by layer and as networks -> build/bench*.{txt,json}, build/roofline_*.svg; bench-host
	$(BENCH_HOST) --link $(BENCH_LINK) | tee $(BUILD)/bench_host.txt
	$(if $(bench_sim_lib),$(MAKE) --no-print-directory $(bench_sim_lib))
	@rm -f $(BUILD)/bench.json $(BUILD)/bench.txt $(BUILD)/bench_network.json \
	    $(BUILD)/bench_network.txt $(BUILD)/roofline_*.svg
	@set -o pipefail; rc=0; \
	$(if $(filter only,$(BENCH_NETWORK)),,$(call bench_run,bench,);) \
	$(if $(filter 0,$(BENCH_NETWORK)),,$(call bench_run,bench_network,--network);) \
	exit $$rc

# Part of `make test-cli` (and so of `make test` and `make test-san`).
test-cli: test-bench
# The runs on sim:16x16 (LeNet, a downsample, the latency) need the default board: built
# first, except in the sanitizer tree (test-san), which has no simulated boards (as
# test-models), where test_bench says it skips them.
test-bench: $(CBR) ## cbr bench and tools/roofline.py: options, JSON schema, MACs, errors
	$(if $(filter 1,$(SAN)),,$(MAKE) --no-print-directory $(BUILD)/sim/libcbrsim_$(SIM_DEFAULT).so)
	CBR=$(CBR) $(PYTHON) tests/cli/test_bench.py
