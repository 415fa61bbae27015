/*
 * testregions.h - the tiny buffers test_sim plans half its layers for, and a 3x3 layer that
 * the planner cuts, under buffers of its own, into regions that each take the whole
 * activation buffer in turn (docs/tiling.md, "Regions"): test_sim runs it on the RTL, where
 * the driver writes the next region's first rows beside the rows the last tiles of the one
 * before still read; test_plan checks that its plan is still cut so, on every array shape.
 */
#ifndef CBR_TESTREGIONS_H
#define CBR_TESTREGIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What CBR_PLAN_CAPS lets the planner use (docs/tiling.md). */
struct test_caps {
    uint32_t act, wgt, out, param, acc;
};

static inline void test_caps_env(struct test_caps k, char *buf, size_t len)
{
    snprintf(buf, len, "act=%u,wgt=%u,out=%u,param=%u,acc=%u", k.act, k.wgt, k.out, k.param,
             k.acc);
}

/* The random layers' tiny buffers on an R x C array: 16 KiB of activations, one 11x11
 * kernel's weights fit twice, the accumulator holds 16 pixels, the output half one tile of
 * one block. */
static inline struct test_caps test_tiny_caps(uint32_t rows, uint32_t cols)
{
    return (struct test_caps){16384, 2 * 121 * rows * cols, 2 * 16 * cols, 2 * cols, 16};
}

/* 256 channels of 30x8 -> 16, 3x3, stride 1, padding 1. Under test_region_caps: five
 * regions of at most 8 rows of all 256 channels (2 KiB a row), each more than half the
 * 16 KiB, weights resident, one row a tile. Each tile computes a long time (64 channel
 * blocks on 4x4) against the 2 KiB the link brings of a row, so the next region's rows go
 * while the last tiles of the one before run: its first rows beside the rows those tiles
 * read, its later rows only once those are read. */
#define TEST_REGION_C 256
#define TEST_REGION_H 30
#define TEST_REGION_W 8
#define TEST_REGION_O 16

static inline struct test_caps test_region_caps(uint32_t rows, uint32_t cols)
{
    struct test_caps k = test_tiny_caps(rows, cols);
    k.wgt = 2 * TEST_REGION_C * 9 * TEST_REGION_O;
    k.param = 2 * TEST_REGION_O;
    return k;
}

#endif
