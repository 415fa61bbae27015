/*
 * testlayer.h - the parameter arrays of a random test layer: allocated, filled from the
 * seeded RNG of testrng.h, pointed to by the layer description, and freed, in one place.
 */
#ifndef CBR_TESTLAYER_H
#define CBR_TESTLAYER_H

#include <stdlib.h>

#include "cbr.h"
#include "testrng.h"

struct test_params {
    int8_t *w;
    int32_t *b, *m, *s, *mn, *sn;
};

/*
 * For d's shapes (set already): weights in [-127, 127], biases in [-bias_span, bias_span],
 * multipliers in [2^30, 2^31), shifts in [-11, 0] (the negative pair's in [-13, 0]); d then
 * points at them, the negative pair only when d is leaky.
 */
static inline void test_params_fill(struct test_params *p, cbr_layer_desc *d,
                                    uint32_t bias_span)
{
    size_t nw = (size_t)d->out_c * (d->in_c / d->groups) * d->kh * d->kw;
    p->w = malloc(nw);
    p->b = malloc(d->out_c * sizeof(int32_t));
    p->m = malloc(d->out_c * sizeof(int32_t));
    p->s = malloc(d->out_c * sizeof(int32_t));
    p->mn = malloc(d->out_c * sizeof(int32_t));
    p->sn = malloc(d->out_c * sizeof(int32_t));
    for (size_t i = 0; i < nw; i++)
        p->w[i] = (int8_t)((int)rnd(255) - 127);
    for (uint32_t o = 0; o < d->out_c; o++) {
        p->b[o] = (int32_t)rnd(2 * bias_span + 1) - (int32_t)bias_span;
        p->m[o] = (int32_t)((1u << 30) + rnd(1u << 30));
        p->s[o] = -(int32_t)rnd(12);
        p->mn[o] = (int32_t)((1u << 30) + rnd(1u << 30));
        p->sn[o] = -(int32_t)rnd(14);
    }
    d->weights = p->w;
    d->bias = p->b;
    d->multiplier = p->m;
    d->shift = p->s;
    d->neg_multiplier = d->act == CBR_ACT_LEAKY ? p->mn : NULL;
    d->neg_shift = d->act == CBR_ACT_LEAKY ? p->sn : NULL;
}

static inline void test_params_free(struct test_params *p)
{
    free(p->w);
    free(p->b);
    free(p->m);
    free(p->s);
    free(p->mn);
    free(p->sn);
}

#endif
