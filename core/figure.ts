/**
 * A preset's own figures (`"figures"` in a preset, {@link FigureConfig}): each is a table in
 * `report.md` (one row per series, one column per x value) and a line plot of the same numbers,
 * such as the paper's Fig. 5 (x = a threshold's percentile, one line per objective and side),
 * Fig. 6 left (x = α, one line per level), Fig. 6 right (x = the model, y = Eq. 5 after SFT) or
 * Tab. 10 (x = the SFT data, one line per objective). It reads only the cell records' fields at
 * the figure's paths: it knows no objective, domain or backbone.
 *
 * @module
 */
import type { ChoiceConfig, ExperimentConfig, FigureConfig } from "./config.ts";
import { choiceLabel } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { type MeanStd, meanStd } from "./report.ts";
import type { CellResult } from "./runner.ts";
import { lineChart, type Series } from "./svg.ts";

/**
 * The value at a dot path of a cell record (`objective.params.alpha`, `probe.meanP`,
 * `scores.addition-test/greedy`), or undefined where the path leads nowhere.
 *
 * @param cell The cell record.
 * @param path The dot path.
 * @returns The value found.
 */
export function valueAt(cell: CellResult, path: string): unknown {
  let value: unknown = cell;
  for (const key of path.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** One entry of a figure: a series at one x (or a reference), over seeds. */
export interface FigureEntry {
  /** The series (a table row, a line of the plot). */
  readonly series: string;
  /** The table column: the x value as text, or the objective label of a reference. */
  readonly column: string;
  /** The x value: a number (mean over the cells), a category, or undefined for a reference. */
  readonly x: number | string | undefined;
  /** The y value over the cells (seeds). */
  readonly y: MeanStd;
}

/** A figure's numbers: its entries, its columns in order, and notes on what it could not read. */
export interface FigureData {
  /** The figure. */
  readonly figure: FigureConfig;
  /** Whether x is numeric (else categories, in order of first appearance). */
  readonly numeric: boolean;
  /** Whether y is a score (a share, shown in %). */
  readonly percent: boolean;
  /** The series in order of first appearance. */
  readonly series: ReadonlyArray<string>;
  /** The columns: x values (sorted when numeric), then the references. */
  readonly columns: ReadonlyArray<string>;
  /** The entries. */
  readonly entries: ReadonlyArray<FigureEntry>;
  /** Lines for the reader when something is missing (a path that no cell has). */
  readonly notes: ReadonlyArray<string>;
}

function text(value: unknown): string {
  if (typeof value === "number") return String(Number(value.toPrecision(4)));
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/**
 * Gathers a figure's numbers from the finished cells. A point is a row of the experiment's
 * tables (the cells sharing domain, backbone and objective, over seeds); points of one series
 * at the same x are pooled.
 *
 * @param figure The figure.
 * @param cells The finished cells.
 * @returns Its entries, columns and notes.
 */
export function figureData(figure: FigureConfig, cells: ReadonlyArray<CellResult>): FigureData {
  const yPath = figure.y ?? "primary";
  const seriesPaths = figure.series ?? ["objective.label"];
  const keep = figure.objectives ? new Set(figure.objectives) : undefined;
  const points = new Map<string, CellResult[]>();
  for (const cell of cells) {
    if (keep && !keep.has(cell.objective.label)) continue;
    const key = `${cell.domain}\u0000${cell.backbone.label}\u0000${cell.objective.label}`;
    points.set(key, [...(points.get(key) ?? []), cell]);
  }
  const raw = [...points.values()].map((group) => {
    const xs = group.map((c) => valueAt(c, figure.x)).filter((v) => v !== undefined);
    // A path a row does not have (the base row's `objective.params.keep`) is left out of its name.
    const series = seriesPaths.map((p) => valueAt(group[0]!, p)).filter((v) => v !== undefined)
      .map(text).join(" · ");
    const ys = group.map((c) => valueAt(c, yPath)).map((v) => (typeof v === "number" ? v : NaN));
    return { series, xs, ys, label: group[0]!.objective.label };
  });
  const numeric = raw.every((r) => r.xs.every((x) => typeof x === "number"));
  const merged = new Map<
    string,
    { series: string; column: string; x: FigureEntry["x"]; ys: number[] }
  >();
  for (const r of raw) {
    const x = r.xs.length === 0
      ? undefined
      : numeric
      ? meanStd(r.xs as number[]).mean
      : text(r.xs[0]);
    const column = x === undefined ? r.label : text(x);
    const key = `${r.series}\u0000${column}`;
    const entry = merged.get(key) ?? { series: r.series, column, x, ys: [] };
    entry.ys.push(...r.ys);
    merged.set(key, entry);
  }
  const entries: FigureEntry[] = [...merged.values()].map((e) => ({
    series: e.series,
    column: e.column,
    x: e.x,
    y: meanStd(e.ys),
  }));
  const placed = entries.filter((e) => e.x !== undefined);
  const xColumns = [...new Map(placed.map((e) => [e.column, e.x!])).entries()];
  if (numeric) xColumns.sort((a, b) => (a[1] as number) - (b[1] as number));
  const references = [...new Set(entries.filter((e) => e.x === undefined).map((e) => e.column))];
  const notes: string[] = [];
  if (entries.length === 0) {
    notes.push(
      `No finished cell matches this figure${
        keep ? ` (objectives ${[...keep].map((l) => JSON.stringify(l)).join(", ")})` : ""
      }.`,
    );
  } else if (placed.length === 0) {
    notes.push(`No cell has a value at x = \`${figure.x}\`: every row is drawn as a reference.`);
  }
  if (entries.length > 0 && entries.every((e) => e.y.n === 0)) {
    notes.push(`No cell has a number at y = \`${yPath}\`.`);
  }
  return {
    figure,
    numeric,
    percent: yPath === "primary" || yPath.startsWith("scores."),
    series: [...new Set(entries.map((e) => e.series))],
    columns: [...xColumns.map(([c]) => c), ...references],
    entries,
    notes,
  };
}

function shown(data: FigureData, m: MeanStd): string {
  if (m.n === 0 || !Number.isFinite(m.mean)) return "–";
  const scale = data.percent ? 100 : 1;
  const digits = data.percent ? 1 : 3;
  const mean = (scale * m.mean).toFixed(digits);
  return m.n > 1 ? `${mean} ± ${(scale * m.std).toFixed(digits)}` : mean;
}

/**
 * Whether a figure's rows are objectives (every series path under `objective.`): then rows are
 * compared within each column (which objective is highest at each x); else columns are compared
 * within each row (which x is highest for each row, e.g. which α for each level).
 *
 * @param figure The figure.
 * @returns True when the rows are objectives.
 */
export function rowsAreObjectives(figure: FigureConfig): boolean {
  return (figure.series ?? ["objective.label"]).every((p) => p.startsWith("objective."));
}

/**
 * The figure's table in markdown: one row per series, one column per x value (then the
 * references), mean ± sample std over seeds. When the rows are objectives the highest mean of
 * each column is in bold and a last row names it; otherwise the highest of each row is in bold.
 * It ranks numbers only.
 *
 * @param data The figure's numbers.
 * @returns Markdown lines.
 */
export function figureTable(data: FigureData): string {
  const cell = new Map(data.entries.map((e) => [`${e.series}\u0000${e.column}`, e]));
  const at = (series: string, column: string): FigureEntry | undefined => {
    const e = cell.get(`${series}\u0000${column}`);
    return e && Number.isFinite(e.y.mean) ? e : undefined;
  };
  const byColumn = rowsAreObjectives(data.figure);
  const topOf = (es: ReadonlyArray<FigureEntry | undefined>): number =>
    Math.max(...es.map((e) => e?.y.mean ?? -Infinity));
  const columnTop = data.columns.map((c) => topOf(data.series.map((s) => at(s, c))));
  const header = [(data.figure.series ?? ["objective.label"]).join(" · "), ...data.columns];
  const lines = [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
  ];
  for (const series of data.series) {
    const values = data.columns.map((c) => at(series, c));
    const rowTop = topOf(values);
    const texts = values.map((v, i) => {
      if (!v) return cell.has(`${series}\u0000${data.columns[i]}`) ? "–" : "";
      const t = shown(data, v.y);
      const bold = byColumn
        ? v.y.mean === columnTop[i] && data.series.length > 1
        : v.y.mean === rowTop && data.columns.length > 1;
      return bold ? `**${t}**` : t;
    });
    lines.push(`| ${series} | ${texts.join(" | ")} |`);
  }
  if (byColumn && data.series.length > 1) {
    const highest = data.columns.map((c, i) => {
      const candidates = data.series.filter((s) => at(s, c) !== undefined);
      if (candidates.length < 2) return "";
      const top = candidates.filter((s) => at(s, c)!.y.mean === columnTop[i]);
      return top.length === candidates.length ? "tie" : top.join(", ");
    });
    lines.push(`| highest | ${highest.join(" | ")} |`);
  }
  return lines.join("\n");
}

/**
 * The figure as a standalone SVG line plot: a line per series through its x values (markers,
 * error bars of one sample std when there are several seeds), each reference as a dashed
 * horizontal line across the plot, categories as labelled ticks.
 *
 * @param data The figure's numbers.
 * @returns The SVG document.
 */
export function figurePlot(data: FigureData): string {
  const scale = data.percent ? 100 : 1;
  const placedColumns = data.columns.filter((c) =>
    data.entries.some((e) => e.column === c && e.x !== undefined)
  );
  const position = (e: FigureEntry): number =>
    data.numeric ? (e.x as number) : placedColumns.indexOf(e.column) + 1;
  const placed = data.entries.filter((e) => e.x !== undefined);
  const xs = placed.map(position).filter((x) => Number.isFinite(x) && (!data.figure.xLog || x > 0));
  const span: [number, number] = data.numeric
    ? (xs.length > 0 ? [Math.min(...xs), Math.max(...xs)] : [0, 1])
    : [0.5, placedColumns.length + 0.5];
  const series: Series[] = [];
  for (const name of data.series) {
    const mine = placed.filter((e) => e.series === name).sort((a, b) => position(a) - position(b));
    if (mine.length > 0) {
      series.push({
        name,
        points: mine.map((e) => [position(e), scale * e.y.mean] as const),
        errors: mine.map((e) => (e.y.n > 1 ? scale * e.y.std : 0)),
        markers: true,
      });
    }
    for (const e of data.entries.filter((e) => e.series === name && e.x === undefined)) {
      series.push({
        name: e.column === name ? name : `${name}: ${e.column}`,
        points: [[span[0], scale * e.y.mean], [span[1], scale * e.y.mean]],
        dashed: true,
      });
    }
  }
  return lineChart(series, {
    title: data.figure.title,
    xLabel: data.figure.xLabel ?? data.figure.x,
    yLabel: data.figure.yLabel ?? (data.figure.y ?? "primary") + (data.percent ? " (%)" : ""),
    width: 760,
    ...(data.numeric
      ? (span[0] < span[1] ? { xDomain: span } : {})
      : { xDomain: span, xTickLabels: placedColumns.map((label, i) => ({ x: i + 1, label })) }),
    ...(data.figure.xLog && data.numeric && xs.length > 0 ? { xLog: true } : {}),
  });
}

/**
 * Checks what a figure names against the preset: its `objectives` must be labels of objectives
 * the preset runs (or "base" when it runs the base rows) and its files must differ.
 *
 * @param config The decoded preset.
 * @param source Where it came from (for the message).
 * @returns A one-line ConfigError naming the field and the value, or nothing.
 */
export function checkFigures(config: ExperimentConfig, source: string): ConfigError | undefined {
  const labels = new Set<string>(config.baseline === false ? [] : ["base"]);
  for (const domain of config.domains) {
    for (const choice of (domain.objectives ?? config.objectives) as ReadonlyArray<ChoiceConfig>) {
      labels.add(choiceLabel(choice));
    }
  }
  const files = new Set<string>();
  for (const [i, figure] of (config.figures ?? []).entries()) {
    if (files.has(figure.file)) {
      return new ConfigError({
        message: `figures[${i}].file: ${
          JSON.stringify(figure.file)
        } is already the file of an earlier figure (${source})`,
        where: source,
      });
    }
    files.add(figure.file);
    for (const [j, label] of (figure.objectives ?? []).entries()) {
      if (!labels.has(label)) {
        return new ConfigError({
          message: `figures[${i}].objectives[${j}]: no objective is labelled ${
            JSON.stringify(label)
          } (labels: ${[...labels].map((l) => JSON.stringify(l)).join(", ")}) (${source})`,
          where: source,
        });
      }
    }
  }
  return undefined;
}
