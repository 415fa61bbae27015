/*
 * suites.c - the conv layers of LeNet-5, ResNet-18, VGG-16 and MobileNetV1, batch 1.
 *
 * Shapes as the papers and the torchvision / Keras reference models have them:
 *  - LeNet-5 (LeCun et al. 1998): C1 5x5 1->6 on 32x32, C3 5x5 6->16 on 14x14 (after S2),
 *    C5 5x5 16->120 on 5x5 (after S4). C3's partial connection table is taken as full.
 *  - ResNet-18 (He et al. 2016, torchvision): stem 7x7/2 pad 3, then 4 stages of 2 basic
 *    blocks (two 3x3 pad-1 convs each; the first conv of stages 2-4 has stride 2), and the
 *    1x1/2 downsample convs of stages 2-4. 56x56 after the stem's max pool.
 *  - VGG-16 (Simonyan & Zisserman 2015, configuration D): 13 3x3 pad-1 convs at 224, 112, 56,
 *    28, 14.
 *  - MobileNetV1 1.0-224 (Howard et al. 2017, Table 1): conv0 3x3/2 3->32, then 13 pairs of
 *    3x3 depthwise (pad 1; stride 2 in pairs 2, 4, 6 and 12) + 1x1 pointwise. Pair 13's
 *    depthwise conv has stride 1 as in every implementation (the table's "s2" there would
 *    make a 4x4 map; the next line of the table says 7x7).
 */
#include <stdio.h>
#include <string.h>

#include "suites.h"

/* L(id, C, H(=W), O, K, stride, pad, groups, stem); LC: the same for a layer whose input is
 * the previous layer's output, nothing between (chained). */
#define L(id, c, hw, o, k, s, p, g, stem) {id, c, hw, hw, o, k, s, p, g, stem, 0}
#define LC(id, c, hw, o, k, s, p, g) {id, c, hw, hw, o, k, s, p, g, 0, 1}

static const struct bench_layer lenet[] = {
    L("conv1", 1, 32, 6, 5, 1, 0, 1, 1),
    L("conv2", 6, 14, 16, 5, 1, 0, 1, 0),
    L("conv3", 16, 5, 120, 5, 1, 0, 1, 0),
};

static const struct bench_layer resnet18[] = {
    L("conv1", 3, 224, 64, 7, 2, 3, 1, 1),
    L("layer1.0.conv1", 64, 56, 64, 3, 1, 1, 1, 0),
    LC("layer1.0.conv2", 64, 56, 64, 3, 1, 1, 1),
    L("layer1.1.conv1", 64, 56, 64, 3, 1, 1, 1, 0),
    LC("layer1.1.conv2", 64, 56, 64, 3, 1, 1, 1),
    L("layer2.0.conv1", 64, 56, 128, 3, 2, 1, 1, 0),
    LC("layer2.0.conv2", 128, 28, 128, 3, 1, 1, 1),
    L("layer2.0.downsample", 64, 56, 128, 1, 2, 0, 1, 0),
    L("layer2.1.conv1", 128, 28, 128, 3, 1, 1, 1, 0),
    LC("layer2.1.conv2", 128, 28, 128, 3, 1, 1, 1),
    L("layer3.0.conv1", 128, 28, 256, 3, 2, 1, 1, 0),
    LC("layer3.0.conv2", 256, 14, 256, 3, 1, 1, 1),
    L("layer3.0.downsample", 128, 28, 256, 1, 2, 0, 1, 0),
    L("layer3.1.conv1", 256, 14, 256, 3, 1, 1, 1, 0),
    LC("layer3.1.conv2", 256, 14, 256, 3, 1, 1, 1),
    L("layer4.0.conv1", 256, 14, 512, 3, 2, 1, 1, 0),
    LC("layer4.0.conv2", 512, 7, 512, 3, 1, 1, 1),
    L("layer4.0.downsample", 256, 14, 512, 1, 2, 0, 1, 0),
    L("layer4.1.conv1", 512, 7, 512, 3, 1, 1, 1, 0),
    LC("layer4.1.conv2", 512, 7, 512, 3, 1, 1, 1),
};

static const struct bench_layer vgg16[] = {
    L("conv1_1", 3, 224, 64, 3, 1, 1, 1, 1),
    LC("conv1_2", 64, 224, 64, 3, 1, 1, 1),
    L("conv2_1", 64, 112, 128, 3, 1, 1, 1, 0),
    LC("conv2_2", 128, 112, 128, 3, 1, 1, 1),
    L("conv3_1", 128, 56, 256, 3, 1, 1, 1, 0),
    LC("conv3_2", 256, 56, 256, 3, 1, 1, 1),
    LC("conv3_3", 256, 56, 256, 3, 1, 1, 1),
    L("conv4_1", 256, 28, 512, 3, 1, 1, 1, 0),
    LC("conv4_2", 512, 28, 512, 3, 1, 1, 1),
    LC("conv4_3", 512, 28, 512, 3, 1, 1, 1),
    L("conv5_1", 512, 14, 512, 3, 1, 1, 1, 0),
    LC("conv5_2", 512, 14, 512, 3, 1, 1, 1),
    LC("conv5_3", 512, 14, 512, 3, 1, 1, 1),
};

/* DW(i, C, H, stride) then PW(i, C, H', O): a depthwise/pointwise pair; all chained, from
 * conv0 to conv13.pw (the average pool comes after). */
#define DW(id, c, hw, s) LC(id, c, hw, c, 3, s, 1, c)
#define PW(id, c, hw, o) LC(id, c, hw, o, 1, 1, 0, 1)

static const struct bench_layer mobilenetv1[] = {
    L("conv0", 3, 224, 32, 3, 2, 1, 1, 1),
    DW("conv1.dw", 32, 112, 1),    PW("conv1.pw", 32, 112, 64),
    DW("conv2.dw", 64, 112, 2),    PW("conv2.pw", 64, 56, 128),
    DW("conv3.dw", 128, 56, 1),    PW("conv3.pw", 128, 56, 128),
    DW("conv4.dw", 128, 56, 2),    PW("conv4.pw", 128, 28, 256),
    DW("conv5.dw", 256, 28, 1),    PW("conv5.pw", 256, 28, 256),
    DW("conv6.dw", 256, 28, 2),    PW("conv6.pw", 256, 14, 512),
    DW("conv7.dw", 512, 14, 1),    PW("conv7.pw", 512, 14, 512),
    DW("conv8.dw", 512, 14, 1),    PW("conv8.pw", 512, 14, 512),
    DW("conv9.dw", 512, 14, 1),    PW("conv9.pw", 512, 14, 512),
    DW("conv10.dw", 512, 14, 1),   PW("conv10.pw", 512, 14, 512),
    DW("conv11.dw", 512, 14, 1),   PW("conv11.pw", 512, 14, 512),
    DW("conv12.dw", 512, 14, 2),   PW("conv12.pw", 512, 7, 1024),
    DW("conv13.dw", 1024, 7, 1),   PW("conv13.pw", 1024, 7, 1024),
};

#define SUITE(v, title) {#v, title, v, sizeof v / sizeof v[0]}

const struct bench_suite bench_suites[] = {
    SUITE(lenet, "LeNet-5"),
    SUITE(resnet18, "ResNet-18"),
    SUITE(vgg16, "VGG-16"),
    SUITE(mobilenetv1, "MobileNetV1 1.0"),
};
const size_t bench_suite_count = sizeof bench_suites / sizeof bench_suites[0];

const struct bench_suite *bench_find_suite(const char *name)
{
    for (size_t i = 0; i < bench_suite_count; i++)
        if (!strcmp(name, bench_suites[i].name))
            return &bench_suites[i];
    return NULL;
}

const char *bench_layer_kind(const struct bench_layer *l, char *buf, size_t len)
{
    if (l->groups > 1 && l->groups == l->in_c)
        return "depthwise";
    if (l->stem)
        return "stem";
    snprintf(buf, len, "%ux%u", l->k, l->k);
    return buf;
}

void bench_layer_name(const struct bench_suite *s, const struct bench_layer *l, char *buf,
                      size_t len)
{
    char st[16] = "";
    if (l->stride > 1)
        snprintf(st, sizeof st, " s%u", l->stride);
    snprintf(buf, len, "%s.%s %ux%u%s", s->name, l->id, l->k, l->k, st);
}

uint32_t bench_out_h(const struct bench_layer *l)
{
    return (l->in_h + 2 * l->pad - l->k) / l->stride + 1;
}

uint32_t bench_out_w(const struct bench_layer *l)
{
    return (l->in_w + 2 * l->pad - l->k) / l->stride + 1;
}

uint64_t bench_layer_macs(const struct bench_layer *l)
{
    return (uint64_t)bench_out_h(l) * bench_out_w(l) * l->out_c * (l->in_c / l->groups) * l->k *
           l->k;
}
