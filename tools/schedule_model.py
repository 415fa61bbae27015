#!/usr/bin/env python3
"""schedule_model.py - the best a rectangle-growing tile order can do on a link-tight layer.

A model of the planner's schedule for a dense layer whose input and weights are resident
(docs/tiling.md, "Streaming"): the layer is a grid of row tiles x output block groups; the
link carries input rows and output blocks' weights (and parameters) in the order the tiles
first need them, never idle but for --tile-link cycles a tile (the driver's write-ahead
margin and RUN round trip) plus three round trips of --latency (cycles each way: the poll,
the registers' answers, the RUN's); a tile starts once its rows and blocks are all in and the tile
before it has ended, and with a latency lasts at least three times those round trips (the core
waits for the driver otherwise). The tiles done so far form a rectangle (the first a row tiles x the
first b block groups) that grows by a row of tiles or a column at a time; dynamic programming
over (a, b) finds the order that ends first. The planner (host/lib/plan.c, rect_best) uses
the same model to order a layer's first tiles and to pick its blocks a tile; docs/tiling.md
compares it with `cbr bench`.

    tools/schedule_model.py C H O [--stride S] [--kernel K] [--rate BYTES_PER_CYCLE]
                            [--tile-link CYCLES] [--latency CYCLES] [--rows R --cols C]

prints, for each tile height and blocks per tile, the modelled cycles and utilization, best
first. Example: ResNet-18 layer3.0.conv1 is `128 28 256 --stride 2`.
"""
import argparse


TILE_LINK = 1536  # plan.c's RECT_TILE_LINK_CYCLES
ROUND_TRIPS = 3   # plan.c's RECT_TILE_ROUND_TRIPS
TILE_MIN = 3      # plan.c's RECT_TILE_MIN_WAITS: a tile lasts at least this many times its waits


def model(cin, h, cout, stride, pth, k_run, rate, rows, cols, k=3, pad=1, tile_link=TILE_LINK,
          latency=0):
    """(cycles, utilization, compute cycles) of the best order for tiles of pth output rows
    and k_run output blocks, over a link that idles tile_link cycles a tile and has the given
    latency each way."""
    tile_link += 2 * ROUND_TRIPS * latency
    t_min = TILE_MIN * 2 * ROUND_TRIPS * latency
    oh = (h + 2 * pad - k) // stride + 1
    ow = oh
    n_cb = -(-cin // rows)
    n_ob = -(-cout // cols)
    row_bytes = n_cb * rows * h                    # one input row, every channel block
    blk_bytes = n_cb * k * k * rows * cols + cols * 32  # one output block's weights + params
    ty = [(y, min(y + pth, oh)) for y in range(0, oh, pth)]
    gr = [(o, min(o + k_run, n_ob)) for o in range(0, n_ob, k_run)]

    def link(a, b, tiles):  # until rows of tiles < a and blocks of groups < b are in
        in_rows = min(h, (ty[a - 1][1] - 1) * stride - pad + k) if a else 0
        obs = gr[b - 1][1] if b else 0
        return (in_rows * row_bytes + obs * blk_bytes) / rate + tiles * tile_link

    def comp(a, b):  # a tile's beats, its drain and the start-up (estimate_tile's figure)
        px = (ty[a][1] - ty[a][0]) * ow
        return max(px * (gr[b][1] - gr[b][0]) * n_cb * k * k + px + 64, t_min)

    best = {(1, 1): link(1, 1, 0) + comp(0, 0)}
    for a in range(1, len(ty) + 1):
        for b in range(1, len(gr) + 1):
            if (a, b) == (1, 1):
                continue
            cands = []
            if a > 1:  # a new row of tiles across the b groups done
                t = max(best[(a - 1, b)], link(a, b, (a - 1) * b))
                cands.append(t + sum(comp(a - 1, g) for g in range(b)))
            if b > 1:  # a new block group down the a row tiles done
                t = max(best[(a, b - 1)], link(a, b, a * (b - 1)))
                cands.append(t + sum(comp(r, b - 1) for r in range(a)))
            best[(a, b)] = min(cands)
    t = best[(len(ty), len(gr))]
    macs = cin * cout * k * k * oh * ow
    compute = sum(comp(a, b) for a in range(len(ty)) for b in range(len(gr)))
    return t, macs / (rows * cols * t), compute


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cin", type=int)
    ap.add_argument("h", type=int, help="input height = width")
    ap.add_argument("cout", type=int)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--kernel", type=int, default=3, help="square kernel (3; pad K // 2)")
    ap.add_argument("--tile-link", type=float, default=TILE_LINK,
                    help="link cycles each tile costs beyond its bytes (%d)" % TILE_LINK)
    ap.add_argument("--latency", type=float, default=0,
                    help="the link's latency in cycles each way (0); each tile waits for "
                         "%d round trips of it" % ROUND_TRIPS)
    ap.add_argument("--rate", type=float, default=2.0, help="link bytes per cycle (2.0)")
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--cols", type=int, default=16)
    ap.add_argument("--top", type=int, default=5)
    o = ap.parse_args()
    res = []
    for pth in range(1, 9):
        for k_run in (1, 2, 4):
            t, u, _ = model(o.cin, o.h, o.cout, o.stride, pth, k_run, o.rate, o.rows, o.cols,
                            k=o.kernel, pad=o.kernel // 2, tile_link=o.tile_link,
                            latency=o.latency)
            res.append((u, t, pth, k_run))
    res.sort(reverse=True)
    print("util    cycles  tile_rows  blocks_per_tile")
    for u, t, pth, k_run in res[:o.top]:
        print(f"{100 * u:5.1f}%  {t:8.0f}  {pth:9d}  {k_run:15d}")


if __name__ == "__main__":
    main()
