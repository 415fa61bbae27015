/*
 * golden.h - the golden model: docs/numerics.md in plain C (private).
 *
 * This is the reference every device is held to, bit for bit. It is written for clarity, not
 * speed: one loop nest per stage, no tiling, no layout tricks. Activations are NCHW here; the
 * API converts other layouts before calling in.
 *
 * The layer functions take a desc that cbr_layer_check() has accepted; they do not validate
 * it again.
 */
#ifndef CBR_GOLDEN_H
#define CBR_GOLDEN_H

#include <stdint.h>

#include "cbr.h"

/* Fixed-point primitives, exactly as in docs/numerics.md. */

/* gemmlowp SaturatingRoundingDoublingHighMul. */
int32_t cbr_srdhm(int32_t a, int32_t b);

/* gemmlowp RoundingDivideByPOT; e in [0, 31]. Rounds half away from zero. */
int32_t cbr_rdbypot(int32_t x, int e);

/* MultiplyByQuantizedMultiplier: shift in [-31, 30]. */
int32_t cbr_mbqm(int32_t x, int32_t m0, int32_t shift);

/* round_half_away(v) for doubles, as an integer value in a double. */
double cbr_round_half_away(double v);

/*
 * One accumulator to one output value: requantize with (m0, shift), or with (neg_m0, neg_shift)
 * when leaky and acc < 0, add y_zp, clamp to [act_min, act_max].
 */
int8_t cbr_requant(int32_t acc, int32_t m0, int32_t shift, bool leaky, int32_t neg_m0,
                   int32_t neg_shift, int32_t y_zp, int32_t act_min, int32_t act_max);

/* The effective clamp [act_min, act_max] of a layer: the activation's range intersected with
 * the explicit clamp. Returns CBR_EINVAL (message set via cbr_fail) if it is empty. */
int cbr_act_range(const cbr_layer_desc *d, int32_t *act_min, int32_t *act_max);

/* Conv output plane (before pooling): floor((H + top + bottom - dh*(KH-1) - 1) / sh) + 1.
 * Returns 0 in *oh or *ow when the layer has no output (NUMERICS rejects it). */
void cbr_conv_out_size(const cbr_layer_desc *d, uint32_t *oh, uint32_t *ow);

/* Pooled plane from a conv plane of h x w; 0 when there is no valid output. */
void cbr_pool_out_size(const cbr_pool *p, uint32_t h, uint32_t w, uint32_t *ph, uint32_t *pw);

/*
 * Turn the "0 means the default" fields of a desc into explicit values, in place: zero strides,
 * dilations and groups become 1, a zero pool stride becomes the pool window. GAVG's window is
 * left alone (the plane is not known here). Call it before cbr_layer_check(); the checks and
 * the layer functions below assume a normalized desc.
 */
void cbr_layer_normalize(cbr_layer_desc *d);

/*
 * Check a layer description against docs/numerics.md and the API limits of cbr.h. Returns 0
 * or CBR_EINVAL / CBR_ERANGE with a message (cbr_fail) naming the field and the limit.
 * Does not read the parameter arrays except weights (-128 is rejected) and multiplier/shift
 * ranges, which it does check.
 */
int cbr_layer_check(const cbr_layer_desc *d);

/* acc[n][o][oh][ow] = bias[o] + sum (x - x_zp) * w, for a batch of n (NCHW). */
void cbr_golden_conv_acc(const cbr_layer_desc *d, uint32_t n, const int8_t *x, int32_t *acc);

/* y = requant + activation + clamp of acc (both n x O x OH x OW). */
void cbr_golden_requant(const cbr_layer_desc *d, uint32_t n, const int32_t *acc, int8_t *y);

/* Pool planes of c channels (n x c x h x w int8) into out (n x c x ph x pw). */
void cbr_golden_pool(const cbr_pool *p, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                     const int8_t *y, int8_t *out);

/* The whole layer: conv, requant, activation, pool. x and out are NCHW.
 * Returns 0 or CBR_ENOMEM (message set). */
int cbr_golden_layer(const cbr_layer_desc *d, uint32_t n, const int8_t *x, int8_t *out);

#endif
