"""Inline SVG charts for the HTML report: lines, CI bands, hover points, polar histograms.

    c = Chart("mri-lesion", xlabel="θ (degrees)", ylabel="dice", xticks=[0, 90, 180])
    c.band(x, lo, hi, BLUE); c.line(x, mean, BLUE, label="mean")
    c.points(x, mean, BLUE, tips=["θ = 0°: 0.05 [0.00, 0.11]", ...])
    svg = c.to_svg()                     # markupsafe.Markup, safe to put in a template
    polar_svg(bins_deg, values, "mri-lesion")

Every piece of text is escaped here; a point's ``tips`` text goes into ``data-tip`` (shown by
the report's script with ``textContent``) and into an SVG ``<title>``. NaN values break
lines and are never drawn as points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
from markupsafe import Markup
from matplotlib.ticker import MaxNLocator

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22"]
BLUE, RED, GREEN, GRAY = PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[8]


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _f(v: float) -> str:
    return f"{v:.1f}"


def fmt(v: float, spec: str = ".3f") -> str:
    """A number for a label or tooltip; '—' for NaN/None."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return format(v, spec)


@dataclass
class _Item:
    kind: str  # band | line | points | marker | hline
    x: np.ndarray
    y: np.ndarray
    y2: np.ndarray | None = None
    color: str = BLUE
    width: float = 2.0
    opacity: float = 1.0
    dash: str = ""
    label: str = ""
    tips: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


class Chart:
    """A 2-D chart with linear axes; items are drawn in the order they were added."""

    def __init__(self, title: str = "", xlabel: str = "", ylabel: str = "", width: int = 440,
                 height: int = 290, xticks: Sequence[float] | None = None,
                 xlim: tuple[float, float] | None = None,
                 ylim: tuple[float | None, float | None] | None = None,
                 xpad: float = 0.0) -> None:
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.w, self.h = width, height
        self.xticks, self.xlim, self.ylim, self.xpad = xticks, xlim, ylim, xpad
        self.items: list[_Item] = []
        self.ml, self.mr = 54 if ylabel else 38, 14
        self.mt, self.mb = 30 if title else 12, 42 if xlabel else 24

    def _add(self, kind: str, x, y, y2=None, **kw) -> Chart:
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        self.items.append(_Item(kind, x, y, None if y2 is None else np.asarray(y2, float), **kw))
        return self

    def band(self, x, lo, hi, color: str = BLUE, opacity: float = 0.18, label: str = ""):
        return self._add("band", x, lo, hi, color=color, opacity=opacity, label=label)

    def line(self, x, y, color: str = BLUE, width: float = 2.0, opacity: float = 1.0,
             dash: str = "", label: str = "", tip: str = ""):
        return self._add("line", x, y, color=color, width=width, opacity=opacity, dash=dash,
                         label=label, tips=[tip] if tip else [])

    def points(self, x, y, color: str = BLUE, tips: Sequence[str] = (), r: float = 3.5,
               label: str = "", texts: Sequence[str] = ()):
        """Hoverable points; ``texts`` are small labels drawn beside them."""
        return self._add("points", x, y, color=color, width=r, label=label, tips=list(tips),
                         texts=list(texts))

    def marker(self, x: float, y: float, color: str = "#111", tip: str = "", label: str = ""):
        return self._add("marker", [x], [y], color=color, label=label, tips=[tip])

    def hline(self, y: float, color: str = GRAY, dash: str = "5 4", label: str = ""):
        return self._add("hline", [np.nan], [y], color=color, width=1.0, dash=dash, label=label)

    # ---- layout
    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        xs = np.concatenate([i.x for i in self.items if i.kind != "hline"] or [np.zeros(1)])
        ys = np.concatenate([np.concatenate([i.y, i.y2]) if i.y2 is not None else i.y
                             for i in self.items] or [np.zeros(1)])
        xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
        x0, x1 = self.xlim or ((xs.min(), xs.max()) if xs.size else (0.0, 1.0))
        y0, y1 = (ys.min(), ys.max()) if ys.size else (0.0, 1.0)
        if self.ylim:
            y0 = self.ylim[0] if self.ylim[0] is not None else y0
            y1 = self.ylim[1] if self.ylim[1] is not None else y1
        if x1 <= x0:
            x0, x1 = x0 - 1, x1 + 1
        if y1 <= y0:
            y0, y1 = y0 - 0.5 if y0 else 0.0, y1 + 0.5 if y1 else 1.0
        x0, x1 = x0 - self.xpad * (x1 - x0), x1 + self.xpad * (x1 - x0)
        pad = 0.04 * (y1 - y0)
        return (x0, x1), (y0 - (pad if not self.ylim or self.ylim[0] is None else 0),
                          y1 + (pad if not self.ylim or self.ylim[1] is None else 0))

    def to_svg(self, cls: str = "chart", attrs: dict[str, str] | None = None) -> Markup:
        (x0, x1), (y0, y1) = self._ranges()
        layout = self._legend_layout()
        rows = 1 + max((r for _, _, r in layout), default=-1)
        legend_top = self.mt + 4
        self.mt += 14 * rows
        pw, ph = self.w - self.ml - self.mr, self.h - self.mt - self.mb

        def sx(v):
            return self.ml + (v - x0) / (x1 - x0) * pw

        def sy(v):
            return self.mt + (1 - (v - y0) / (y1 - y0)) * ph

        extra = "".join(f' {_e(k)}="{_e(v)}"' for k, v in (attrs or {}).items())
        out = [f'<svg class="{_e(cls)}" viewBox="0 0 {self.w} {self.h}" width="{self.w}" '
               f'height="{self.h}" role="img" aria-label="{_e(self.title)}"{extra}>']
        if self.title:
            out.append(f'<text class="ttl" x="{self.ml}" y="18">{_e(self.title)}</text>')
        xs = np.concatenate([i.x for i in self.items] or [np.zeros(1)])
        integer = bool(np.all(np.mod(xs[np.isfinite(xs)], 1) == 0))
        xt = self.xticks if self.xticks is not None else \
            MaxNLocator(6, integer=integer).tick_values(x0, x1)
        yt = MaxNLocator(5).tick_values(y0, y1)
        for t in yt:
            if y0 - 1e-12 <= t <= y1 + 1e-12:
                out.append(f'<line class="grid" x1="{self.ml}" x2="{self.ml + pw}" '
                           f'y1="{_f(sy(t))}" y2="{_f(sy(t))}"/><text class="tick" '
                           f'x="{self.ml - 5}" y="{_f(sy(t) + 3.5)}" text-anchor="end">'
                           f'{_e(format(float(t), ".3g"))}</text>')
        for t in xt:
            if x0 - 1e-9 <= t <= x1 + 1e-9:
                out.append(f'<line class="grid" x1="{_f(sx(t))}" x2="{_f(sx(t))}" '
                           f'y1="{self.mt}" y2="{self.mt + ph}"/><text class="tick" '
                           f'x="{_f(sx(t))}" y="{self.mt + ph + 14}" text-anchor="middle">'
                           f'{_e(format(float(t), "g"))}</text>')
        out.append(f'<rect class="frame" x="{self.ml}" y="{self.mt}" width="{pw}" '
                   f'height="{ph}"/>')
        out.append(f'<text class="lbl" x="{self.ml + pw / 2:.1f}" y="{self.h - 6}" '
                   f'text-anchor="middle">{_e(self.xlabel)}</text>')
        out.append(f'<text class="lbl" transform="translate(13 {self.mt + ph / 2:.1f}) '
                   f'rotate(-90)" text-anchor="middle">{_e(self.ylabel)}</text>')
        for it in self.items:
            out.append(self._item(it, sx, sy, x0, x1))
        out.append(self._legend(legend_top + 6) if rows else "")
        out.append("</svg>")
        self.mt -= 14 * rows
        return Markup("".join(out))

    def _item(self, it: _Item, sx, sy, x0: float, x1: float) -> str:
        col = _e(it.color)
        if it.kind == "hline":
            y = _f(sy(it.y[0]))
            return (f'<line x1="{_f(sx(x0))}" x2="{_f(sx(x1))}" y1="{y}" y2="{y}" '
                    f'stroke="{col}" stroke-dasharray="{_e(it.dash)}" stroke-width="1"/>')
        if it.kind == "band":
            ok = np.isfinite(it.x) & np.isfinite(it.y) & np.isfinite(it.y2)
            if ok.sum() < 2:
                return ""
            pts = [f"{_f(sx(a))},{_f(sy(b))}" for a, b in zip(it.x[ok], it.y2[ok], strict=True)]
            pts += [f"{_f(sx(a))},{_f(sy(b))}"
                    for a, b in zip(it.x[ok][::-1], it.y[ok][::-1], strict=True)]
            return (f'<polygon points="{" ".join(pts)}" fill="{col}" '
                    f'fill-opacity="{it.opacity}" stroke="none"/>')
        if it.kind == "line":
            segs, cur = [], []
            for a, b in zip(it.x, it.y, strict=True):
                if np.isfinite(a) and np.isfinite(b):
                    cur.append(f"{_f(sx(a))},{_f(sy(b))}")
                elif cur:
                    segs.append(cur)
                    cur = []
            segs += [cur] if cur else []
            tip = f' data-tip="{_e(it.tips[0])}"' if it.tips else ""
            dash = f' stroke-dasharray="{_e(it.dash)}"' if it.dash else ""
            return "".join(f'<polyline class="ln" points="{" ".join(s)}" fill="none" '
                           f'stroke="{col}" stroke-width="{it.width}" '
                           f'stroke-opacity="{it.opacity}"{dash}{tip}/>' for s in segs)
        shapes = []
        for k, (a, b) in enumerate(zip(it.x, it.y, strict=True)):
            if not (np.isfinite(a) and np.isfinite(b)):
                continue
            tip = it.tips[k] if k < len(it.tips) else ""
            title = f"<title>{_e(tip)}</title>" if tip else ""
            if it.kind == "marker":
                x, y = sx(a), sy(b) - 9
                shapes.append(f'<path class="pk" d="M{_f(x)},{_f(y + 6)} l-5,-9 h10 z" '
                              f'fill="{col}" data-tip="{_e(tip)}">{title}</path>')
            else:
                shapes.append(f'<circle class="pt" cx="{_f(sx(a))}" cy="{_f(sy(b))}" '
                              f'r="{it.width}" fill="{col}" data-tip="{_e(tip)}">{title}'
                              "</circle>")
                if k < len(it.texts):
                    shapes.append(f'<text class="plab" x="{_f(sx(a) + 6)}" '
                                  f'y="{_f(sy(b) - 6)}">{_e(it.texts[k])}</text>')
        return "".join(shapes)

    def _legend_items(self) -> list[_Item]:
        seen: dict[str, _Item] = {}
        for it in self.items:
            if it.label and it.label not in seen:
                seen[it.label] = it
        return list(seen.values())

    def _legend_layout(self) -> list[tuple[_Item, float, int]]:
        """(item, x, row) for a legend in rows above the plot, wrapped at the chart width."""
        out, x, row = [], float(self.ml), 0
        for it in self._legend_items():
            w = 26 + 6.2 * len(it.label)
            if x + w > self.w - self.mr and x > self.ml:
                x, row = float(self.ml), row + 1
            out.append((it, x, row))
            x += w + 10
        return out

    def _legend(self, top: float) -> str:
        out = ['<g class="legend">']
        for it, x, row in self._legend_layout():
            yy = top + 14 * row
            col = _e(it.color)
            if it.kind == "band":
                sym = (f'<rect x="{x:.0f}" y="{yy - 7}" width="16" height="9" fill="{col}" '
                       f'fill-opacity="{max(it.opacity, 0.25)}"/>')
            elif it.kind == "marker":
                sym = f'<path d="M{x + 8:.0f},{yy + 2} l-5,-9 h10 z" fill="{col}"/>'
            elif it.kind == "points":
                sym = f'<circle cx="{x + 8:.0f}" cy="{yy - 2}" r="3.5" fill="{col}"/>'
            else:
                dash = f' stroke-dasharray="{_e(it.dash)}"' if it.dash else ""
                sym = (f'<line x1="{x:.0f}" x2="{x + 16:.0f}" y1="{yy - 2}" y2="{yy - 2}" '
                       f'stroke="{col}" stroke-width="{min(it.width, 2.5)}" '
                       f'stroke-opacity="{max(it.opacity, 0.4)}"{dash}/>')
            out.append(f'{sym}<text class="leg" x="{x + 21:.0f}" y="{yy + 2}">'
                       f'{_e(it.label)}</text>')
        out.append("</g>")
        return "".join(out)


def polar_svg(bins_deg: Sequence[float], values: Sequence[float], title: str = "",
              color: str = BLUE, size: int = 250) -> Markup:
    """A closed polar curve (0° = +x, counter-clockwise, y up), scaled to its maximum."""
    b = np.radians(np.asarray(bins_deg, float))
    v = np.asarray(values, float)
    vmax = float(np.nanmax(v)) if v.size and np.nanmax(v) > 0 else 1.0
    top = 26 if title else 8
    cx, cy, r = size / 2, top + (size - top - 8) / 2, (size - top - 30) / 2
    out = [f'<svg class="chart polar" viewBox="0 0 {size} {size}" width="{size}" '
           f'height="{size}" role="img" aria-label="{_e(title)}">']
    if title:
        out.append(f'<text class="ttl" x="{size / 2}" y="17" text-anchor="middle">'
                   f'{_e(title)}</text>')
    for f in (0.25, 0.5, 0.75, 1.0):
        out.append(f'<circle class="grid" cx="{cx}" cy="{_f(cy)}" r="{_f(r * f)}" '
                   'fill="none"/>')
    for a in range(0, 360, 45):
        x, y = cx + r * math.cos(math.radians(a)), cy - r * math.sin(math.radians(a))
        out.append(f'<line class="grid" x1="{cx}" y1="{_f(cy)}" x2="{_f(x)}" y2="{_f(y)}"/>')
        if a % 90 == 0:
            lx, ly = cx + (r + 12) * math.cos(math.radians(a)), cy - (r + 12) * math.sin(
                math.radians(a))
            out.append(f'<text class="tick" x="{_f(lx)}" y="{_f(ly + 4)}" '
                       f'text-anchor="middle">{a}°</text>')
    pts = [f"{_f(cx + r * val / vmax * math.cos(ang))},{_f(cy - r * val / vmax * math.sin(ang))}"
           for ang, val in zip(b, v, strict=True) if np.isfinite(val)]
    if pts:
        out.append(f'<polygon points="{" ".join(pts)}" fill="{_e(color)}" fill-opacity="0.25" '
                   f'stroke="{_e(color)}" stroke-width="1.5"/>')
    k = int(np.nanargmax(v)) if v.size and np.isfinite(v).any() else None
    if k is not None:
        ang = b[k]
        out.append(f'<circle class="pt" cx="{_f(cx + r * math.cos(ang))}" '
                   f'cy="{_f(cy - r * math.sin(ang))}" r="3.5" fill="{_e(color)}" '
                   f'data-tip="{_e(f"strongest orientation {math.degrees(ang):g}°")}"/>')
    out.append("</svg>")
    return Markup("".join(out))
