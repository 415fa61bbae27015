#!/usr/bin/python3
"""Roofline plots of a `cbr bench --json` file, as hand-made SVG (standard library only).

    /usr/bin/python3 tools/roofline.py BENCH.json [OUTDIR] [--suite NAME]

Writes OUTDIR/roofline_<suite>.svg for every suite in the file (or only --suite; a file of
`cbr bench --network`: roofline_<suite>_network.svg), OUTDIR defaulting to the JSON file's
directory. x is the operational intensity, MACs per byte
moved over the link (to + from the device); y the attained MACs per cycle; both log scale.
The roofs: the array's peak, rows x cols MACs per cycle, and the link, intensity x link
bytes per cycle (solid: one direction's rate, the bound when the traffic is one-way; dashed:
twice that, both directions busy at once). One point per layer that ran with cycle counts,
labelled, coloured by kind (stem, 3x3, 1x1, depthwise, other). See docs/bench.md.

Exit status: 0 when every plot was written (or, for a device without an array such as cpu,
there is nothing to plot: a note says so), 1 for a missing or malformed file (the message
names the file and what is wrong) or an unknown --suite, 2 for bad arguments.
"""

import argparse
import json
import math
import os
import sys
import tempfile

sys.dont_write_bytecode = True

COLOURS = [("stem", "#d62728"), ("3x3", "#1f77b4"), ("1x1", "#2ca02c"),
           ("depthwise", "#ff7f0e"), ("other", "#9467bd")]
W, H = 900, 600
LEFT, RIGHT, TOP, BOTTOM = 80, 190, 60, 60


class BadInput(Exception):
    pass


def need(obj, key, kinds, where):
    if not isinstance(obj, dict) or key not in obj:
        raise BadInput("%s has no '%s'" % (where, key))
    v = obj[key]
    if not isinstance(v, kinds) or isinstance(v, bool) and bool not in kinds:
        raise BadInput("%s: '%s' is %r, expected %s" % (
            where, key, v, " or ".join(k.__name__ if k is not type(None) else "null"
                                       for k in kinds)))
    return v


def load(path):
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise BadInput("no such file")
    except OSError as e:
        raise BadInput("cannot read it: %s" % e.strerror)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadInput("not valid JSON: %s" % e)
    if not isinstance(data, dict):
        raise BadInput("the top level is not an object")
    num = (int, float)
    dev = need(data, "device", (dict,), "the file")
    rows = need(dev, "rows", (int,), "device")
    cols = need(dev, "cols", (int,), "device")
    bpc = data.get("link_bytes_per_cycle")
    if not isinstance(bpc, num) or isinstance(bpc, bool) or bpc <= 0:
        clock = need(data, "clock_mhz", num, "the file")
        link = need(data, "link_mbps", num, "the file")
        if clock <= 0 or link <= 0:
            raise BadInput("clock_mhz and link_mbps must be > 0")
        bpc = link / clock
    layers = need(data, "layers", (list,), "the file")
    for i, L in enumerate(layers):
        where = "layer %d" % i
        if not isinstance(L, dict):
            raise BadInput("%s is not an object" % where)
        where = "layer %d (%s)" % (i, L.get("name", "?"))
        need(L, "name", (str,), where)
        need(L, "suite", (str,), where)
        need(L, "kind", (str,), where)
        need(L, "macs", (int,), where)
        for k in ("cycles", "bytes_to_device", "bytes_from_device"):
            v = need(L, k, (int, type(None)), where)
            if v is not None and v < 0:
                raise BadInput("%s: '%s' is negative" % (where, k))
    return data, rows, cols, float(bpc)


def fmt_num(v):
    if v >= 1000:
        for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if v >= div:
                s = "%g" % (v / div)
                return s + suf
    return "%g" % v


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def kind_colour(kind):
    for k, c in COLOURS:
        if k == kind:
            return c
    return dict(COLOURS)["other"]


def plot(data, rows, cols, bpc, suite, layers):
    peak = float(rows * cols)
    pts = []
    for L in layers:
        moved = (L["bytes_to_device"] or 0) + (L["bytes_from_device"] or 0)
        if L.get("status", "ok") != "ok" or not L["cycles"] or not moved or not L["macs"]:
            continue
        pts.append((L["macs"] / moved, L["macs"] / L["cycles"], L))
    ridge = peak / bpc if peak > 0 else 1.0
    xs = [p[0] for p in pts] + [ridge]
    ys = [p[1] for p in pts] + ([peak] if peak > 0 else [])
    x0 = 10 ** math.floor(math.log10(min(xs) / 2))
    x1 = 10 ** math.ceil(math.log10(max(xs) * 2))
    y0 = 10 ** math.floor(math.log10(min(min(ys), x0 * bpc) / 2 if ys else 0.01))
    y1 = 10 ** math.ceil(math.log10(max(ys) * 2 if ys else 1))
    if y0 >= y1:
        y1 = y0 * 10
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def X(v):
        return LEFT + pw * (math.log10(v) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))

    def Y(v):
        return TOP + ph * (1 - (math.log10(v) - math.log10(y0)) / (math.log10(y1) - math.log10(y0)))

    out = []
    a = out.append
    a('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
      'font-family="sans-serif" font-size="12">' % (W, H, W, H))
    a('<rect width="100%" height="100%" fill="white"/>')
    dev = data["device"]
    title = "Roofline: %s%s on %s, %g MHz, link %g MB/s (%.3g B/cycle each way)" % (
        suite, " as a network" if data.get("network") else "", dev.get("uri", "?"),
        data.get("clock_mhz", 0) or 0, data.get("link_mbps", 0) or 0, bpc)
    a('<text x="%d" y="28" font-size="15" font-weight="bold">%s</text>' % (LEFT, esc(title)))
    a('<defs><clipPath id="plot"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath></defs>'
      % (LEFT, TOP, pw, ph))
    # Grid and ticks: decades, with light lines at 2..9.
    for lo, hi, axis in ((x0, x1, "x"), (y0, y1, "y")):
        d = int(round(math.log10(lo)))
        while 10 ** d <= hi * 1.0001:
            for m in range(1, 10):
                v = m * 10.0 ** d
                if v < lo * 0.9999 or v > hi * 1.0001:
                    continue
                colour, width = ("#cccccc", 1) if m == 1 else ("#eeeeee", 0.5)
                if axis == "x":
                    a('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%g"/>'
                      % (X(v), TOP, X(v), TOP + ph, colour, width))
                    if m == 1:
                        a('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                          % (X(v), TOP + ph + 18, fmt_num(v)))
                else:
                    a('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%g"/>'
                      % (LEFT, Y(v), LEFT + pw, Y(v), colour, width))
                    if m == 1:
                        a('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                          % (LEFT - 6, Y(v) + 4, fmt_num(v)))
            d += 1
    a('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>'
      % (LEFT, TOP, pw, ph))
    a('<text x="%d" y="%d" text-anchor="middle">operational intensity (MACs per byte over the '
      'link, to + from the device)</text>' % (LEFT + pw / 2, H - 15))
    a('<text x="20" y="%d" text-anchor="middle" transform="rotate(-90 20 %d)">attained MACs per '
      'cycle</text>' % (TOP + ph / 2, TOP + ph / 2))
    # Roofs, clipped to the plot.
    a('<g clip-path="url(#plot)">')
    if peak > 0:
        a('<polyline points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="black" '
          'stroke-width="2"/>' % (X(x0), Y(max(x0 * bpc, y0)), X(ridge), Y(peak), X(x1), Y(peak)))
        r2 = peak / (2 * bpc)
        a('<polyline points="%.1f,%.1f %.1f,%.1f" fill="none" stroke="black" stroke-width="1" '
          'stroke-dasharray="6,4"/>' % (X(x0), Y(max(x0 * 2 * bpc, y0)), X(r2), Y(peak)))
    else:
        a('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="2"/>'
          % (X(x0), Y(max(x0 * bpc, y0)), X(x1), Y(x1 * bpc)))
    # Points; layers at the same spot share one label ("conv7.dw 3x3 (+4)"), and a label
    # moves to the first of a few places around its point that no other label covers.
    groups = []
    for x, y, L in sorted(pts, key=lambda p: (p[0], p[1])):
        px, py = X(x), Y(y)
        c = kind_colour(L["kind"])
        tip = "%s: %d MACs, %d cycles, %.3g MACs/B, %.3g MACs/cycle" % (
            L["name"], L["macs"], L["cycles"], x, y)
        a('<circle cx="%.1f" cy="%.1f" r="4.5" fill="%s" stroke="black" stroke-width="0.5">'
          '<title>%s</title></circle>' % (px, py, c, esc(tip)))
        label = L["name"]
        if label.startswith(suite + "."):
            label = label[len(suite) + 1:]
        for g in groups:
            if abs(g[0] - px) < 3 and abs(g[1] - py) < 3:
                g[3] += 1
                break
        else:
            groups.append([px, py, label, 0])
    boxes = [(g[0] - 5, g[1] - 5, g[0] + 5, g[1] + 5) for g in groups]  # the points
    if peak > 0:  # and the peak's caption
        boxes.append((LEFT + pw - 190, Y(peak) - 17, LEFT + pw, Y(peak) - 2))
    for px, py, label, more in groups:
        if more:
            label += " (+%d)" % more
        w, h = 5.0 * len(label), 10
        places = [(dx, dy) for step in range(6) for dy in (-5 - 11 * step, 12 + 11 * step)
                  for dx in (7, -7 - w)]
        for dx, dy in places + [(7, -5)]:
            box = (px + dx, py + dy - h + 2, px + dx + w, py + dy + 2)
            inside = box[0] >= LEFT and box[2] <= LEFT + pw and box[1] >= TOP and \
                box[3] <= TOP + ph
            if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and
                                  b[1] < box[3] for b in boxes):
                break
        boxes.append(box)
        a('<text x="%.1f" y="%.1f" font-size="9" fill="#333333">%s</text>'
          % (px + dx, py + dy, esc(label)))
    a('</g>')
    if peak > 0:
        a('<text x="%.1f" y="%.1f" text-anchor="end" font-size="11">peak %d x %d = %g MACs/cycle'
          '</text>' % (LEFT + pw - 4, Y(peak) - 6, rows, cols, peak))
    if not pts:
        a('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="14" fill="#aa0000">no layer '
          'of this suite has cycle counts (refused, failed, or a device without counters)</text>'
          % (LEFT + pw / 2, TOP + ph / 2))
    # Legend.
    lx, ly = LEFT + pw + 20, TOP + 10
    a('<text x="%d" y="%d" font-weight="bold">layer kind</text>' % (lx, ly))
    for i, (k, c) in enumerate(COLOURS):
        yy = ly + 20 + 18 * i
        a('<circle cx="%d" cy="%d" r="5" fill="%s" stroke="black" stroke-width="0.5"/>'
          % (lx + 5, yy - 4, c))
        a('<text x="%d" y="%d">%s</text>' % (lx + 16, yy, k))
    yy = ly + 20 + 18 * len(COLOURS) + 14
    a('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black" stroke-width="2"/>'
      % (lx, yy, lx + 24, yy))
    a('<text x="%d" y="%d">roof (one-way link)</text>' % (lx + 30, yy + 4))
    a('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black" stroke-dasharray="6,4"/>'
      % (lx, yy + 18, lx + 24, yy + 18))
    a('<text x="%d" y="%d">both directions</text>' % (lx + 30, yy + 22))
    a('<text x="%d" y="%d" font-size="11">%d of %d layers plotted</text>'
      % (lx, yy + 48, len(pts), len(layers)))
    a('</svg>')
    return "\n".join(out) + "\n", len(pts)


def write_atomic(path, text):
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        mask = os.umask(0o22)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", help="a file written by cbr bench --json")
    ap.add_argument("outdir", nargs="?", help="where the SVG files go (default: beside the JSON)")
    ap.add_argument("--suite", help="plot only this suite")
    args = ap.parse_args()
    prog = "roofline.py"
    try:
        data, rows, cols, bpc = load(args.json)
    except BadInput as e:
        print("%s: %s: %s" % (prog, args.json, e), file=sys.stderr)
        return 1
    suites = []
    for L in data["layers"]:
        if L["suite"] not in suites:
            suites.append(L["suite"])
    if args.suite:
        if args.suite not in suites:
            print("%s: %s: no layers of suite '%s' (it has: %s)" % (
                prog, args.json, args.suite, ", ".join(suites) or "none"), file=sys.stderr)
            return 1
        suites = [args.suite]
    if not suites:
        print("%s: %s: no layers to plot" % (prog, args.json), file=sys.stderr)
        return 1
    if rows <= 0 or cols <= 0:
        # Not an error: the cpu device has no array and counts no cycles.
        print("%s: %s: device %s has no array (rows x cols = %d x %d) and no cycle counts: "
              "nothing to plot" % (prog, args.json, data["device"].get("uri", "?"), rows, cols),
              file=sys.stderr)
        return 0
    outdir = args.outdir or os.path.dirname(args.json) or "."
    for s in suites:
        svg, n = plot(data, rows, cols, bpc, s, [L for L in data["layers"] if L["suite"] == s])
        path = os.path.join(outdir, "roofline_%s%s.svg" % (
            s, "_network" if data.get("network") else ""))
        try:
            write_atomic(path, svg)
        except OSError as e:
            print("%s: %s: %s" % (prog, path, e.strerror or e), file=sys.stderr)
            return 1
        print("wrote %s (%d layer%s)" % (path, n, "" if n == 1 else "s"))
        if not n:
            print("%s: warning: no layer of suite %s has cycle counts" % (prog, s),
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
