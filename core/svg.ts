/**
 * A small, dependency-free SVG line-chart renderer for theory figures and experiment reports:
 * axes with "nice" ticks (linear or logarithmic x), a legend, dashed series, point markers,
 * vertical error bars and labelled vertical reference lines. The output is a complete standalone
 * SVG document and is deterministic (same input, same bytes).
 *
 * @example Two curves with a reference line
 * ```ts
 * import { lineChart } from "./svg.ts";
 * const svg = lineChart(
 *   [
 *     { name: "1 - p", points: [[0, 1], [0.5, 0.5], [1, 0]] },
 *     { name: "p", points: [[0, 0], [0.5, 0.5], [1, 1]], dashed: true, markers: true },
 *   ],
 *   { title: "Descent weights", xLabel: "p", yLabel: "W(p)", verticalLines: [{ x: 0.5 }] },
 * );
 * console.assert(svg.startsWith("<?xml"));
 * ```
 *
 * @module
 */

/** One curve of a {@link lineChart}. */
export interface Series {
  /** Legend text; a series whose name is empty is drawn but left out of the legend. */
  readonly name: string;
  /** The points `[x, y]`, drawn in the given order; a non-finite point breaks the line. */
  readonly points: ReadonlyArray<readonly [number, number]>;
  /** Draw the line dashed. @default false */
  readonly dashed?: boolean;
  /** Draw a circle at every point. @default false */
  readonly markers?: boolean;
  /** Half-widths of vertical error bars, one per point (same order as `points`). */
  readonly errors?: ReadonlyArray<number>;
}

/** Layout and axes of a {@link lineChart}. */
export interface ChartOptions {
  /** Title above the plot. */
  readonly title: string;
  /** Label of the horizontal axis. */
  readonly xLabel: string;
  /** Label of the vertical axis. */
  readonly yLabel: string;
  /** Width of the whole document in pixels. @default 640 */
  readonly width?: number;
  /** Height of the whole document in pixels. @default 400 */
  readonly height?: number;
  /** Horizontal range; by default the range of the data. */
  readonly xDomain?: readonly [number, number];
  /** Vertical range; by default the range of the data (error bars included) padded by 5 %. */
  readonly yDomain?: readonly [number, number];
  /** Logarithmic horizontal axis (points with x ≤ 0 are dropped). @default false */
  readonly xLog?: boolean;
  /**
   * Ticks of the horizontal axis at these positions with these labels (categories), instead of
   * numeric ticks.
   */
  readonly xTickLabels?: ReadonlyArray<{ readonly x: number; readonly label: string }>;
  /** Dashed vertical reference lines, with an optional label at the top. */
  readonly verticalLines?: ReadonlyArray<{ readonly x: number; readonly label?: string }>;
}

const _palette: ReadonlyArray<string> = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

function _escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function _num(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** Formats a tick value without floating-point noise (0.30000000000000004 → 0.3). */
function _tickLabel(value: number): string {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(0).replace("e+", "e");
  return String(Number(value.toPrecision(6)));
}

function _niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const fraction = raw / power;
  const nice = fraction <= 1
    ? 1
    : fraction <= 2
    ? 2
    : fraction <= 2.5
    ? 2.5
    : fraction <= 5
    ? 5
    : 10;
  return nice * power;
}

function _linearTicks(min: number, max: number, count: number): number[] {
  const step = _niceStep(max - min, count);
  const ticks: number[] = [];
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

function _logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const decades = hi - lo;
  const multiples = decades <= 2 ? [1, 2, 5] : [1];
  const stride = Math.max(1, Math.ceil(decades / 8));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e += stride) {
    for (const m of multiples) {
      const v = Number((m * Math.pow(10, e)).toPrecision(12));
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks;
}

function _extent(values: ReadonlyArray<number>): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

function _widen([lo, hi]: [number, number], log: boolean): [number, number] {
  if (lo < hi) return [lo, hi];
  if (log) return [lo / 10, hi * 10];
  const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
  return [lo - pad, hi + pad];
}

/**
 * Renders line series as a complete standalone SVG document with a title, axes, ticks, grid
 * lines, a legend, optional markers, error bars and vertical reference lines.
 *
 * @param series The curves, drawn in order with a ten-colour _palette.
 * @param options Title, axis labels, size, domains, log x and reference lines.
 * @returns The SVG document as text.
 * @throws RangeError when the size is not positive or a log axis has a non-positive domain.
 */
export function lineChart(series: ReadonlyArray<Series>, options: ChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  if (!(width > 0) || !(height > 0)) {
    throw new RangeError(`Cannot draw a chart of size ${width}x${height}: size must be positive`);
  }
  const log = options.xLog === true;
  const usable = (x: number) => Number.isFinite(x) && (!log || x > 0);

  // Domains.
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of series) {
    s.points.forEach(([x, y], i) => {
      if (!usable(x) || !Number.isFinite(y)) return;
      xs.push(x);
      const e = s.errors?.[i];
      if (e !== undefined && Number.isFinite(e)) ys.push(y - Math.abs(e), y + Math.abs(e));
      else ys.push(y);
    });
  }
  const xDomain: [number, number] = options.xDomain
    ? [options.xDomain[0], options.xDomain[1]]
    : _widen(_extent(xs) ?? (log ? [1, 10] : [0, 1]), log);
  let yDomain: [number, number];
  if (options.yDomain) yDomain = [options.yDomain[0], options.yDomain[1]];
  else {
    const [lo, hi] = _widen(_extent(ys) ?? [0, 1], false);
    const pad = (hi - lo) * 0.05;
    yDomain = [lo - pad, hi + pad];
  }
  if (log && !(xDomain[0] > 0 && xDomain[1] > 0)) {
    throw new RangeError(
      `Cannot draw a log x axis over [${xDomain[0]}, ${xDomain[1]}]: the domain must be positive`,
    );
  }

  // Layout.
  const named = series.map((s, i) => ({ s, i })).filter(({ s }) => s.name !== "");
  const longest = named.reduce((m, { s }) => Math.max(m, s.name.length), 0);
  const legendWidth = named.length > 0 ? Math.min(240, 40 + longest * 6.6) : 0;
  const left = 64;
  const right = 16 + legendWidth;
  const top = 36;
  const bottom = 52;
  const plotW = Math.max(10, width - left - right);
  const plotH = Math.max(10, height - top - bottom);
  const tx = (x: number) => {
    const [a, b] = log ? [Math.log10(xDomain[0]), Math.log10(xDomain[1])] : xDomain;
    const v = log ? Math.log10(x) : x;
    return left + ((v - a) / (b - a || 1)) * plotW;
  };
  const ty = (y: number) =>
    top + plotH - ((y - yDomain[0]) / (yDomain[1] - yDomain[0] || 1)) * plotH;

  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  out.push(`<title>${_escape(options.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<defs><clipPath id="plot-area"><rect x="${left}" y="${top}" width="${_num(plotW)}" height="${
      _num(plotH)
    }"/></clipPath></defs>`,
  );
  out.push(
    // Left-aligned at the margin, so that a long title stays inside the document.
    `<text x="8" y="20" text-anchor="start" font-size="14" font-weight="bold">${
      _escape(options.title)
    }</text>`,
  );

  // Grid and ticks.
  const xTicks = options.xTickLabels
    ? options.xTickLabels.map((t) => t.x)
    : log
    ? _logTicks(xDomain[0], xDomain[1])
    : _linearTicks(xDomain[0], xDomain[1], 6);
  const xTickText = new Map((options.xTickLabels ?? []).map((t) => [t.x, t.label]));
  const yTicks = _linearTicks(yDomain[0], yDomain[1], 5);
  out.push(`<g class="grid" stroke="#e5e5e5" stroke-width="1">`);
  for (const t of xTicks) {
    out.push(
      `<line x1="${_num(tx(t))}" y1="${top}" x2="${_num(tx(t))}" y2="${_num(top + plotH)}"/>`,
    );
  }
  for (const t of yTicks) {
    out.push(
      `<line x1="${left}" y1="${_num(ty(t))}" x2="${_num(left + plotW)}" y2="${_num(ty(t))}"/>`,
    );
  }
  out.push(`</g>`);
  out.push(`<g class="axes" stroke="#333333" stroke-width="1">`);
  out.push(
    `<line x1="${left}" y1="${_num(top + plotH)}" x2="${_num(left + plotW)}" y2="${
      _num(top + plotH)
    }"/>`,
  );
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${_num(top + plotH)}"/>`);
  for (const t of xTicks) {
    out.push(
      `<line x1="${_num(tx(t))}" y1="${_num(top + plotH)}" x2="${_num(tx(t))}" y2="${
        _num(top + plotH + 5)
      }"/>`,
    );
  }
  for (const t of yTicks) {
    out.push(`<line x1="${left - 5}" y1="${_num(ty(t))}" x2="${left}" y2="${_num(ty(t))}"/>`);
  }
  out.push(`</g>`);
  out.push(`<g class="tick-labels" fill="#333333">`);
  for (const t of xTicks) {
    out.push(
      `<text x="${_num(tx(t))}" y="${_num(top + plotH + 17)}" text-anchor="middle">${
        _escape(xTickText.get(t) ?? _tickLabel(t))
      }</text>`,
    );
  }
  for (const t of yTicks) {
    out.push(
      `<text x="${left - 8}" y="${_num(ty(t) + 4)}" text-anchor="end">${
        _escape(_tickLabel(t))
      }</text>`,
    );
  }
  out.push(`</g>`);
  out.push(
    `<text x="${_num(left + plotW / 2)}" y="${
      _num(height - 12)
    }" text-anchor="middle" font-size="12">${_escape(options.xLabel)}</text>`,
  );
  const yMid = top + plotH / 2;
  out.push(
    `<text x="16" y="${_num(yMid)}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${
      _num(yMid)
    })">${_escape(options.yLabel)}</text>`,
  );

  // Reference lines.
  for (const line of options.verticalLines ?? []) {
    if (!usable(line.x)) continue;
    const x = _num(tx(line.x));
    out.push(
      `<line class="reference" x1="${x}" y1="${top}" x2="${x}" y2="${
        _num(top + plotH)
      }" stroke="#555555" stroke-width="1" stroke-dasharray="2 3"/>`,
    );
    if (line.label) {
      out.push(
        `<text x="${x}" y="${top - 4}" text-anchor="middle" fill="#555555">${
          _escape(line.label)
        }</text>`,
      );
    }
  }

  // Series.
  out.push(`<g clip-path="url(#plot-area)" fill="none" stroke-width="2">`);
  series.forEach((s, i) => {
    const color = _palette[i % _palette.length]!;
    let d = "";
    let pen = false;
    for (const [x, y] of s.points) {
      if (!usable(x) || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${_num(tx(x))} ${_num(ty(y))} `;
      pen = true;
    }
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    if (d !== "") out.push(`<path d="${d.trim()}" stroke="${color}"${dash}/>`);
    s.points.forEach(([x, y], k) => {
      if (!usable(x) || !Number.isFinite(y)) return;
      const e = s.errors?.[k];
      if (e !== undefined && Number.isFinite(e) && e !== 0) {
        const [px, lo, hi] = [tx(x), ty(y - Math.abs(e)), ty(y + Math.abs(e))];
        out.push(
          `<path d="M${_num(px)} ${_num(lo)} L${_num(px)} ${_num(hi)} M${_num(px - 3)} ${
            _num(lo)
          } L${_num(px + 3)} ${_num(lo)} M${_num(px - 3)} ${_num(hi)} L${_num(px + 3)} ${
            _num(hi)
          }" stroke="${color}" stroke-width="1"/>`,
        );
      }
      if (s.markers) {
        out.push(
          `<circle cx="${_num(tx(x))}" cy="${_num(ty(y))}" r="3.5" fill="${color}" stroke="none"/>`,
        );
      }
    });
  });
  out.push(`</g>`);

  // Legend.
  if (named.length > 0) {
    const lx = left + plotW + 16;
    out.push(`<g class="legend">`);
    named.forEach(({ s, i }, row) => {
      const color = _palette[i % _palette.length]!;
      const y = top + 8 + row * 18;
      const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
      out.push(
        `<line x1="${lx}" y1="${y}" x2="${
          lx + 24
        }" y2="${y}" stroke="${color}" stroke-width="2"${dash}/>`,
      );
      if (s.markers) out.push(`<circle cx="${lx + 12}" cy="${y}" r="3.5" fill="${color}"/>`);
      out.push(`<text x="${lx + 30}" y="${y + 4}">${_escape(s.name)}</text>`);
    });
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
