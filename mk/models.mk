# mk/models.mk - real models: the digits demo (models/digits) and the ONNX model tests
# (tests/models).
#
#   make test-models                     generated ONNX models through `cbr run` on cpu and sim
#   make test-models MODELS_ARGS="--seed 7 --case residual --keep"
#   make test-models MODELS_SIM_LIBS= CBR_SIM_PATH=DIR   with sim boards built elsewhere
#   make demo-digits                     the digits CNN on the simulated board (`make demo`)
#   make train-digits                    retrain it (needs python3-torch python3-sklearn, not in
#                                        DEPS_APT: only for regenerating the committed files)
#
# test-models is part of test-cli (and so of `make test`), demo-digits of test-demo (the
# single-layer build/bin/cbr-demo stays there too); in the sanitizer pass (SAN=1) test-models
# runs on the cpu device only, so the ONNX loader and the int8 path run under ASan + UBSan
# without a second Verilator build.

MODELS_ARGS ?=
DEMO_DEVICE ?= sim

.PHONY: test-models demo-digits train-digits
test-cli: test-models
test-demo: demo-digits
# The devices: cpu (the reference), the default sim board and a non-square one (other
# tiles); expanded when the recipe runs, after mk/sim.mk has set SIM_DEFAULT.
MODELS_SIM = sim:$(SIM_DEFAULT) sim:4x8
MODELS_DEVICES = $(if $(filter 1,$(SAN)),cpu,cpu $(MODELS_SIM))
MODELS_SIM_LIBS = $(if $(filter 1,$(SAN)),,$(MODELS_SIM:sim:%=$(BUILD)/sim/libcbrsim_%.so))

test-models: $(CBR) ## generated ONNX models via cbr run: cpu == sim == sim:4x8, vs float, bad models
	$(if $(MODELS_SIM_LIBS),$(MAKE) --no-print-directory $(MODELS_SIM_LIBS))
	CBR=$(CBR) $(PYTHON) tests/models/test_models.py \
	    --devices $(subst $(space),$(comma),$(MODELS_DEVICES)) $(MODELS_ARGS)

demo-digits: $(CBR) sim-default ## the digits CNN: int8 on sim vs float, accuracy, per-layer cycles
	CBR=$(CBR) $(PYTHON) models/digits/demo.py --device $(DEMO_DEVICE)

train-digits: ## retrain models/digits (python3-torch, python3-sklearn) and rewrite its files
	$(PYTHON) models/digits/train.py

comma := ,
space := $(subst ,, )
