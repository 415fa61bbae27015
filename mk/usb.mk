# mk/usb.mk - the USB transport's tests: the host stack over USB (libusb) through cbr-emu's
# umockdev device (docs/links.md).
#
#   make test-emu-usb         end to end, cbr info/devices, bad URIs, unplug, fault runs
#   make soak-usb             many more USB fault runs (USB_SOAK_RUNS=1000)
#   make bench-usb            sustained bytes/s and host CPU time per MB over USB

USB_SHAPE ?= 4x4
USB_E2E_LAYERS ?= 6
# 60 runs: with fewer, larger packets per layer (docs/tiling.md) 40 runs injected as few as
# 144 faults on some seeds (e.g. 1905726518), and the 150 floor failed by chance.
USB_FAULT_RUNS ?= 60
USB_MIN_FAULTS ?= 150
USB_SOAK_RUNS ?= 1000
USB_EMU := $(BUILD)/bin/cbr-emu
USB_SIM_DEP := $(BUILD)/sim/libcbrsim_$(USB_SHAPE).so
USB_TEST_ENV = CBR=$(CBR) CBR_EMU=$(USB_EMU) CBR_SIM_PATH=$${CBR_SIM_PATH:-$(abspath $(BUILD)/sim)}

.PHONY: test-emu-usb soak-usb bench-usb
test-emu-usb: $(USB_EMU) $(CBR) $(if $(CBR_SIM_PATH),,$(USB_SIM_DEP)) ## USB (libusb) under cbr-emu: layers vs cpu, info/devices, bad URIs, unplug, fault runs
	$(USB_TEST_ENV) $(PYTHON) tests/emu/test_usb.py --shape $(USB_SHAPE) \
	    --layers $(USB_E2E_LAYERS) --fault-runs $(USB_FAULT_RUNS) --min-faults $(USB_MIN_FAULTS)

soak-usb: $(USB_EMU) $(CBR) $(if $(CBR_SIM_PATH),,$(USB_SIM_DEP)) ## many more USB fault runs (USB_SOAK_RUNS, 1000)
	$(USB_TEST_ENV) $(PYTHON) tests/emu/test_usb.py --shape $(USB_SHAPE) \
	    --layers 0 --fault-runs $(USB_SOAK_RUNS) --min-faults 0

bench-usb: $(USB_EMU) $(CBR) $(if $(CBR_SIM_PATH),,$(BUILD)/sim/libcbrsim_16x16.so) ## bytes/s and host CPU per MB through the emulated USB link
	$(USB_TEST_ENV) $(PYTHON) tests/emu/bench_usb.py
