# mk/emu.mk - cbr-emu, the board emulator (emu/, docs/links.md): the simulated board
# presented as a USB device (umockdev) or as XDMA character-device paths, with fault
# injection, and the tests that run the host stack through it.
#
#   make emu                  build/bin/cbr-emu
#   make test-emu             end-to-end and fault runs through the emulated links
#   make soak-links           many more fault runs (EMU_SOAK_RUNS=2000)
#   make bench-links          sustained bytes/s and host CPU time per MB over each link

EMU_SRC := $(sort $(wildcard emu/*.c))
EMU_OBJ := $(EMU_SRC:%.c=$(BUILD)/obj/%.o)
EMU := $(BUILD)/bin/cbr-emu
# emu_usb.c needs umockdev (and glib); its headers are system headers to -Werror.
EMU_PKGS := umockdev-1.0
EMU_PKG_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(EMU_PKGS) 2>/dev/null))
EMU_PKG_LIBS := $(shell pkg-config --libs $(EMU_PKGS) 2>/dev/null)

$(EMU_OBJ): CPPFLAGS_ALL += -Iemu $(EMU_PKG_CFLAGS)

$(EMU): $(EMU_OBJ) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $(EMU_OBJ) $(LIBA) $(EMU_PKG_LIBS) $(LIBS)

# Fault runs in make test: EMU_FAULT_RUNS short layers with random faults; the test fails
# unless at least EMU_MIN_FAULTS faults were injected in all.
EMU_SHAPE ?= 4x4
EMU_FAULT_RUNS ?= 200
EMU_MIN_FAULTS ?= 1000
EMU_E2E_LAYERS ?= 12
EMU_SOAK_RUNS ?= 2000
EMU_SIM_DEP = $(BUILD)/sim/libcbrsim_$(EMU_SHAPE).so $(BUILD)/sim/libcbrsim_$(SIM_DEFAULT).so
EMU_TEST_ENV = CBR=$(CBR) CBR_EMU=$(EMU) CBR_SIM_PATH=$${CBR_SIM_PATH:-$(abspath $(BUILD)/sim)}

.PHONY: emu test-emu test-emu-pcie test-emu-san soak-links bench-links
emu: $(EMU) ## build the board emulator, build/bin/cbr-emu (docs/links.md)

test-emu: test-emu-pcie test-emu-san ## the host stack through the emulated links: end to end, and fault runs

test-emu-pcie: $(EMU) $(CBR) $(if $(CBR_SIM_PATH),,$(EMU_SIM_DEP)) ## PCIe (XDMA) under cbr-emu: layers vs cpu, bad inputs, fault runs
	$(EMU_TEST_ENV) $(PYTHON) tests/emu/test_emu_pcie.py --shape $(EMU_SHAPE) \
	    --layers $(EMU_E2E_LAYERS) --fault-runs $(EMU_FAULT_RUNS) --min-faults $(EMU_MIN_FAULTS)

# The same tests, fewer fault runs, with cbr and cbr-emu under AddressSanitizer + UBSan (the
# tree test-san builds), on the simulated boards of this tree (no second Verilator build).
test-emu-san: $(if $(CBR_SIM_PATH),,$(EMU_SIM_DEP)) ## test-emu-pcie under ASan + UBSan (40 fault runs)
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=abort_on_error=1:print_stacktrace=1 \
	    $(MAKE) BUILD=$(BUILD)/san SAN=1 CBR_SIM_PATH=$${CBR_SIM_PATH:-$(abspath $(BUILD)/sim)} \
	    EMU_E2E_LAYERS=4 EMU_FAULT_RUNS=40 EMU_MIN_FAULTS=0 test-emu-pcie

soak-links: $(EMU) $(CBR) $(if $(CBR_SIM_PATH),,$(EMU_SIM_DEP)) ## many more fault runs over the emulated links (EMU_SOAK_RUNS, 2000)
	$(EMU_TEST_ENV) $(PYTHON) tests/emu/test_emu_pcie.py --shape $(EMU_SHAPE) \
	    --layers 0 --fault-runs $(EMU_SOAK_RUNS) --min-faults 0

bench-links: $(EMU) $(CBR) $(if $(CBR_SIM_PATH),,$(EMU_SIM_DEP)) ## sustained bytes/s and host CPU per MB through each emulated link
	$(EMU_TEST_ENV) $(PYTHON) tests/emu/bench_links.py --shape $(SIM_DEFAULT)
