# mk/onnx.mk - the ONNX parser of libcbr, generated at build time.
#
# protoc-c turns the onnx.proto that Debian's libonnx-dev installs into onnx.pb-c.[ch] under
# $(BUILD)/gen/onnx (never into the tree). The object joins libcbr (.a and .so), the headers
# are on every compile's include path (host/lib/onnx.c and the unit tests use them), and the
# fuzz targets, which compile the library's sources themselves, compile the generated C too.

ONNX_PROTO ?= /usr/include/onnx/onnx.proto
ONNX_GEN := $(BUILD)/gen/onnx
ONNX_PB_C := $(ONNX_GEN)/onnx.pb-c.c
ONNX_PB_H := $(ONNX_GEN)/onnx.pb-c.h
ONNX_PB_OBJ := $(BUILD)/obj/gen/onnx.pb-c.o

CPPFLAGS_ALL += -I$(ONNX_GEN)
LIBS += -lprotobuf-c
LIB_SRC += $(ONNX_PB_C)

$(ONNX_PB_C) $(ONNX_PB_H) &: $(ONNX_PROTO)
	@test -f $< || { echo "$<: missing; run 'make deps' (libonnx-dev)"; exit 1; }
	@mkdir -p $(ONNX_GEN)
	protoc-c --proto_path=$(dir $<) --c_out=$(ONNX_GEN) $<

$(ONNX_PB_OBJ): $(ONNX_PB_C) $(ONNX_PB_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(LIBA) $(LIBSO): $(ONNX_PB_OBJ)
$(LIB_OBJ): | $(ONNX_PB_H)
$(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%): $(ONNX_PB_C) $(ONNX_PB_H)
