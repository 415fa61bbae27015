/*
 * suites.h - the conv layers of the networks `cbr bench` runs, with their real shapes at
 * batch 1 (LeNet-5 at 32x32x1, the others at 224x224x3). Only the convolutions: pooling,
 * residual adds and the classifier are not conv layers of this accelerator.
 */
#ifndef CBR_CLI_SUITES_H
#define CBR_CLI_SUITES_H

#include <stddef.h>
#include <stdint.h>

/* One conv layer: square kernel, equal stride and padding on every side. */
struct bench_layer {
    const char *id;           /* "layer2.0.conv1": the name inside its network */
    uint32_t in_c, in_h, in_w;
    uint32_t out_c;
    uint32_t k, stride, pad;
    uint32_t groups;          /* 1, or in_c for a depthwise layer */
    int stem;                 /* the network's first conv (on the image) */
    int chained;              /* its input is the previous layer's output, with nothing (no
                                 pooling, no residual add) between: `cbr bench --network`
                                 runs such layers as one cbr_network */
};

struct bench_suite {
    const char *name;         /* "resnet18": what --suite takes */
    const char *title;        /* "ResNet-18" */
    const struct bench_layer *layers;
    size_t count;
};

/* The suites, in the order `--suite all` runs them. */
extern const struct bench_suite bench_suites[];
extern const size_t bench_suite_count;

/* The suite called name, or NULL. */
const struct bench_suite *bench_find_suite(const char *name);

/* "depthwise" (groups == in_c > 1), "stem", else the kernel: "3x3", "1x1", "5x5". */
const char *bench_layer_kind(const struct bench_layer *l, char *buf, size_t len);

/* The name shown and written: "resnet18.layer2.0.conv1 3x3 s2". */
void bench_layer_name(const struct bench_suite *s, const struct bench_layer *l, char *buf,
                      size_t len);

/* Conv output height and width. */
uint32_t bench_out_h(const struct bench_layer *l);
uint32_t bench_out_w(const struct bench_layer *l);

/* Useful MACs at batch 1: OH * OW * O * (C / G) * K * K. */
uint64_t bench_layer_macs(const struct bench_layer *l);

#endif
