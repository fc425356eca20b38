/**
 * Reports of an experiment: `results.json`, `metrics.jsonl`, `report.md` with tables in the shape
 * of the paper's Tab. 1–3 (rows objectives, columns benchmarks, mean ± std over seeds, the base
 * model first, best in bold) and the probe figures, and SVG plots: accuracy against the base
 * model's mean p (the continuum picture), the likelihood estimate before and after SFT (Fig. 6
 * right) and training curves.
 *
 * @module
 */
import type { FigureConfig } from "./config.ts";
import { figureData, figurePlot, figureTable, rowsAreObjectives } from "./figure.ts";
import { knifeEdgeMargin, type ProbeResult, regimeThresholds } from "./probe.ts";
import type { CellResult, ExperimentResults } from "./runner.ts";
import { type WelchTest, welchTest } from "./stats.ts";
import { writeAtomic } from "./state_file.ts";
import { lineChart, type Series } from "./svg.ts";

/** Mean and sample standard deviation (n − 1; 0 for one value). */
export interface MeanStd {
  /** The mean. */
  readonly mean: number;
  /** The sample standard deviation. */
  readonly std: number;
  /** How many values. */
  readonly n: number;
}

/**
 * Mean and sample standard deviation of finite values.
 *
 * @param values The values.
 * @returns Mean, std (n − 1) and count.
 */
export function meanStd(values: ReadonlyArray<number>): MeanStd {
  const xs = values.filter(Number.isFinite);
  const n = xs.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n };
}

/** The cells of one table: a domain at one capability level. */
interface Group {
  readonly domain: string;
  readonly backbone: string;
  readonly cells: CellResult[];
}

function groupsOf(cells: ReadonlyArray<CellResult>): Group[] {
  const groups = new Map<string, Group>();
  for (const cell of cells) {
    const key = `${cell.domain}\u0000${cell.backbone.label}`;
    let group = groups.get(key);
    if (!group) {
      group = { domain: cell.domain, backbone: cell.backbone.label, cells: [] };
      groups.set(key, group);
    }
    group.cells.push(cell);
  }
  return [...groups.values()];
}

function rowsOf(group: Group): Map<string, CellResult[]> {
  const rows = new Map<string, CellResult[]>();
  for (const cell of group.cells) {
    const label = cell.objective.label;
    rows.set(label, [...(rows.get(label) ?? []), cell]);
  }
  // The base row first, the rest in plan order.
  return new Map(
    [...rows.entries()].sort(([a], [b]) => (a === "base" ? -1 : b === "base" ? 1 : 0)),
  );
}

function percent(x: number): string {
  return Number.isFinite(x) ? (100 * x).toFixed(1) : "–";
}

/**
 * The summary of one objective in one group, used by tables and tests.
 *
 * @param results The results.
 * @returns Per domain, backbone and objective: primary mean ± std over seeds, the base model's
 *   mean p on the placement's targets and on every target (means over seeds), and Eq. 5 after SFT.
 */
export function summarize(
  results: ExperimentResults,
): ReadonlyArray<{
  readonly domain: string;
  readonly backbone: string;
  readonly objective: string;
  readonly primary: MeanStd;
  readonly baseMeanP: number;
  readonly baseMeanPAll: number;
  readonly meanPAfter: MeanStd;
}> {
  return groupsOf(results.cells).flatMap((group) =>
    [...rowsOf(group).entries()].map(([objective, cells]) => ({
      domain: group.domain,
      backbone: group.backbone,
      objective,
      primary: meanStd(cells.map((c) => c.primary)),
      baseMeanP: meanStd(baseProbes(group).map((p) => p.meanP)).mean,
      baseMeanPAll: meanStd(baseProbes(group).map((p) => p.allTargets?.meanP ?? p.meanP)).mean,
      meanPAfter: meanStd(cells.map((c) => c.meanPAfter)),
    }))
  );
}

function table(group: Group): string {
  const rows = rowsOf(group);
  const keys = [...new Set(group.cells.flatMap((c) => Object.keys(c.scores)))];
  const primaryKey = group.cells[0]!.primaryKey;
  const stats = new Map(
    [...rows.entries()].map(([label, cells]) => [
      label,
      keys.map((k) => meanStd(cells.map((c) => c.scores[k] ?? NaN))),
    ]),
  );
  const best = keys.map((_, i) =>
    Math.max(...[...stats.values()].map((s) => (Number.isFinite(s[i]!.mean) ? s[i]!.mean : -1)))
  );
  const header = [
    "objective",
    ...keys.map((k) => (k === primaryKey ? `${k} (primary)` : k)),
    "mean p after SFT",
    "seeds",
  ];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const [label, cells] of rows) {
    const s = stats.get(label)!;
    const cellsText = s.map((m, i) => {
      const text = `${percent(m.mean)} ± ${percent(m.std)}`;
      return m.mean === best[i] && rows.size > 1 ? `**${text}**` : text;
    });
    const after = meanStd(cells.map((c) => c.meanPAfter));
    lines.push(
      `| ${label} | ${cellsText.join(" | ")} | ${after.mean.toFixed(3)} | ${after.n} |`,
    );
  }
  return lines.join("\n");
}

/** The base model's probe of each seed of a group (one per seed, in seed order). */
function baseProbes(group: Group): ProbeResult[] {
  const bySeed = new Map<number, ProbeResult>();
  for (const cell of group.cells) if (!bySeed.has(cell.seed)) bySeed.set(cell.seed, cell.probe);
  return [...bySeed.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}

function figure(values: ReadonlyArray<number>, digits = 3): string {
  const m = meanStd(values);
  if (!Number.isFinite(m.mean)) return "–";
  return m.n > 1 && m.std > 0
    ? `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}`
    : m.mean.toFixed(digits);
}

function probeTable(groups: ReadonlyArray<Group>): string {
  const lines = [
    "| domain | backbone | mean p (Eq. 5, placement targets) | share p > 0.55 | p10 | p50 | forced targets: share, mean p | Eq. 5, every target | pairs read | regime | nearest cut-off (distance) | recommended |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const group of groups) {
    const probes = baseProbes(group);
    const regimes = [...new Set(probes.map((p) => p.regime))];
    const regime = regimes.length === 1
      ? regimes[0]!
      : regimes.map((r) => `${r} (${probes.filter((p) => p.regime === r).length} seeds)`)
        .join(", ");
    const nearest = probes.reduce((
      a,
      b,
    ) => ((b.cutoffDistance ?? NaN) < (a.cutoffDistance ?? NaN) ? b : a));
    const knife = probes.some((p) => p.knifeEdge);
    const forcedShare = probes.map((p) =>
      p.forced ? p.forced.tokens / Math.max(1, p.forced.tokens + p.tokens) : NaN
    );
    const se = Math.max(...probes.map((p) => p.meanPStandardError ?? NaN));
    const read = probes[0]!.pairs;
    lines.push(
      `| ${group.domain} | ${group.backbone} | ${figure(probes.map((p) => p.meanP))}${
        se > 0 ? ` (s.e. ${se.toFixed(3)})` : ""
      } | ${figure(probes.map((p) => p.shareAbove055))} | ${
        figure(probes.map((p) => p.percentiles["10"] ?? NaN))
      } | ${figure(probes.map((p) => p.percentiles["50"] ?? NaN))} | ${figure(forcedShare, 2)}, ${
        figure(probes.map((p) => p.forced?.meanP ?? NaN))
      } | ${figure(probes.map((p) => p.allTargets?.meanP ?? NaN))} | ${
        read ? (read.read === read.of ? `all ${read.of}` : `${read.read} of ${read.of}`) : "–"
      } | ${regime} | ${nearest.nearestCutoff ?? "–"} (${
        (nearest.cutoffDistance ?? NaN).toFixed(3)
      })${knife ? " **knife edge**" : ""} | ${nearest.recommendation.join(", ")} |`,
    );
  }
  return lines.join("\n");
}

/**
 * Which sources of variance a spread over the seeds of a group includes, in words.
 *
 * @param cells The group's cells.
 * @returns A sentence.
 */
export function varianceSources(cells: ReadonlyArray<CellResult>): string {
  const seeds = new Set(cells.map((c) => c.seed));
  if (seeds.size < 2) return "one seed: no spread";
  const baseSeeds = new Set(cells.map((c) => c.baseSeed ?? 0));
  const seeded = cells[0]!.baseSeeded;
  const base = baseSeeds.size < 2
    ? "not the base model (every seed fine-tunes the seed-0 base)"
    : seeded === false
    ? "not the base model (a fixed checkpoint, which ignores the seed)"
    : seeded === true
    ? "the base model (its initialisation and pretraining run, one per seed)"
    : "the base model's seed (whether the backbone uses it, it does not say)";
  return `the SFT set (its sample and noise), the SFT data order and the evaluation sampling, one per seed; ${base}; not the test set or the prior corpus (fixed)`;
}

/** One objective compared with the reference objective of its group on the primary score. */
export interface Comparison {
  /** Domain label. */
  readonly domain: string;
  /** Backbone label. */
  readonly backbone: string;
  /** The group's continuum position (from the base model's probe; seeds that disagree are listed). */
  readonly regime: string;
  /** The base model's mean p on the placement's targets (mean over seeds). */
  readonly baseMeanP: number;
  /** The objective compared. */
  readonly objective: string;
  /** The reference objective (the first objective of the preset). */
  readonly reference: string;
  /** Primary mean of the objective minus that of the reference. */
  readonly difference: number;
  /** Welch's t-test of the difference over seeds (two-sided) and its 95% interval. */
  readonly test: WelchTest;
  /** Whether the test rejects equal means at the 5% level (p < 0.05; at least 2 seeds a side). */
  readonly clear: boolean;
  /** Which sources of variance the spread over seeds includes. */
  readonly varianceSources: string;
}

/** The level of the test behind "clear". */
export const clearLevel = 0.05;

/**
 * Compares every objective of each group with the group's reference objective (the first
 * objective listed in the preset) on the primary score: the difference of means over seeds and
 * Welch's two-sided t-test of it; "clear" is p < {@link clearLevel}. It knows no objective; it
 * only subtracts and tests.
 *
 * @param results The results.
 * @returns One comparison per non-reference objective and group.
 */
export function compare(results: ExperimentResults): ReadonlyArray<Comparison> {
  const out: Comparison[] = [];
  for (const group of groupsOf(results.cells)) {
    const rows = [...rowsOf(group).entries()].filter(([label]) => label !== "base");
    if (rows.length < 2) continue;
    const [referenceLabel, referenceCells] = rows[0]!;
    const probes = baseProbes(group);
    const regimes = [...new Set(probes.map((p) => p.regime))];
    for (const [label, cells] of rows.slice(1)) {
      const test = welchTest(referenceCells.map((c) => c.primary), cells.map((c) => c.primary));
      out.push({
        domain: group.domain,
        backbone: group.backbone,
        regime: regimes.join(" / "),
        baseMeanP: meanStd(probes.map((p) => p.meanP)).mean,
        objective: label,
        reference: referenceLabel,
        difference: test.difference,
        test,
        clear: test.pValue < clearLevel,
        varianceSources: varianceSources(group.cells),
      });
    }
  }
  return out;
}

function comparisonTable(results: ExperimentResults): string {
  const lines = [
    "| domain | backbone | base mean p | regime | objective − reference (primary, points) | 95% interval | Welch p | clear? |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const c of compare(results)) {
    const sign = c.difference >= 0 ? "+" : "−";
    const [low, high] = c.test.interval;
    const interval = Number.isFinite(low)
      ? `${(100 * low).toFixed(1)} to ${(100 * high).toFixed(1)}`
      : "–";
    const p = Number.isFinite(c.test.pValue)
      ? (c.test.pValue < 0.001 ? "< 0.001" : c.test.pValue.toFixed(3))
      : "–";
    lines.push(
      `| ${c.domain} | ${c.backbone} | ${
        c.baseMeanP.toFixed(3)
      } | ${c.regime} | ${c.objective} − ${c.reference}: ${sign}${
        percent(Math.abs(c.difference))
      } | ${interval} | ${p} | ${
        c.clear
          ? (c.difference > 0 ? "yes, higher" : "yes, lower")
          : Number.isFinite(c.test.pValue)
          ? "no"
          : "no (fewer than 2 seeds)"
      } |`,
    );
  }
  return lines.join("\n");
}

/**
 * The markdown report.
 *
 * @param results The results.
 * @param title The experiment name.
 * @param figures The preset's own figures (core/figure.ts): a section each, after the tables.
 * @returns Markdown text.
 */
export function renderReport(
  results: ExperimentResults,
  title: string,
  figures: ReadonlyArray<FigureConfig> = [],
): string {
  const groups = groupsOf(results.cells);
  const parts = [
    `# ${title}`,
    "",
    "Scores are percentages, mean ± sample standard deviation over SFT seeds; the best mean of each column is in bold. The base row is the model before SFT.",
    "",
    "## Capability probe (base models, before SFT)",
    "",
    `The placement uses the supervised targets the domain does not mark as forced (format separators, answer markers, the end token: reported apart); Eq. 5 over every target is the paper's figure. The cut-offs are probsft's own (model-strong: mean p ≥ ${regimeThresholds.strongMeanP} and share ≥ ${regimeThresholds.strongShare}; model-weak: mean p ≤ ${regimeThresholds.weakMeanP}; core/probe.ts says where they come from); a placement within ${knifeEdgeMargin} of one (or within two standard errors when the probe read a sample) is a knife edge. Figures are means ± std over seeds where the seeds' base models or SFT sets differ.`,
    "",
    probeTable(groups),
    "",
  ];
  for (const group of groups) {
    parts.push(`## ${group.domain} — ${group.backbone}`, "", table(group), "");
  }
  for (const figure of figures) {
    const data = figureData(figure, results.cells);
    parts.push(
      `## ${figure.title}`,
      "",
      `Plot: \`${figure.file}\`. Rows: ${
        (figure.series ?? ["objective.label"]).map((p) => `\`${p}\``).join(" · ")
      }; columns: \`${figure.x}\`${
        data.columns.length > data.columns.filter((c) =>
            data.entries.some((e) => e.column === c && e.x !== undefined)
          ).length
          ? " (then the rows that have none, as references: dashed lines in the plot)"
          : ""
      }; values: \`${figure.y ?? "primary"}\`${
        data.percent ? " in %" : ""
      }, mean ± std over seeds where there are several; ${
        rowsAreObjectives(figure)
          ? "the highest mean of each column in bold, named in the last row (means, not a test: the table of Welch tests below says which differences are clear)"
          : "the highest of each row in bold"
      }.`,
      "",
      figureTable(data),
      "",
      ...data.notes.flatMap((n) => [n, ""]),
    );
  }
  if (compare(results).length > 0) {
    parts.push(
      "## Each objective against the first one, on the primary score",
      "",
      `A difference is clear when Welch's two-sided t-test over seeds rejects equal means at the ${clearLevel} level (p < ${clearLevel}); the interval is the difference's 95% confidence interval. With 3 seeds a side the test has 2–4 degrees of freedom, so only large differences are clear.`,
      "",
      comparisonTable(results),
      "",
      "What a spread over seeds includes:",
      "",
      ...groups.map((g) => `- ${g.domain} — ${g.backbone}: ${varianceSources(g.cells)}.`),
      "",
    );
  }
  if (results.failures.length > 0) {
    parts.push("## Failed cells", "");
    for (const f of results.failures) parts.push(`- ${f.key}: ${f.message}`);
    parts.push("");
  }
  parts.push(
    `Plots: ${
      figures.map((f) => `\`${f.file}\` (${f.title}), `).join("")
    }\`continuum.svg\` (primary score against the base model's mean p), \`likelihood.svg\` (Eq. 5 before and after SFT), \`curves-*.svg\` (training NLL per step).`,
    "",
  );
  return parts.join("\n");
}

function continuumPlot(results: ExperimentResults): string {
  const byObjective = new Map<string, Array<[number, number, number]>>();
  for (const s of summarize(results)) {
    if (!Number.isFinite(s.primary.mean)) continue;
    const list = byObjective.get(s.objective) ?? [];
    list.push([s.baseMeanP, s.primary.mean, s.primary.std]);
    byObjective.set(s.objective, list);
  }
  const series: Series[] = [...byObjective.entries()].map(([name, points]) => {
    points.sort((a, b) => a[0] - b[0]);
    return {
      name,
      points: points.map(([x, y]) => [x, 100 * y] as const),
      errors: points.map(([, , e]) => 100 * e),
      markers: true,
      dashed: name === "base",
    };
  });
  return lineChart(series, {
    title: "Primary score against the base model's mean p",
    xLabel: "base model mean p on the SFT targets not marked forced (Eq. 5)",
    yLabel: "primary score (%)",
    xDomain: [0, 1],
  });
}

function likelihoodPlot(results: ExperimentResults): string {
  const byObjective = new Map<string, Array<[number, number]>>();
  for (const s of summarize(results)) {
    const list = byObjective.get(s.objective) ?? [];
    list.push([s.baseMeanPAll, s.meanPAfter.mean]);
    byObjective.set(s.objective, list);
  }
  const series: Series[] = [...byObjective.entries()].map(([name, points]) => ({
    name,
    points: points.sort((a, b) => a[0] - b[0]),
    markers: true,
    dashed: name === "base",
  }));
  return lineChart(series, {
    title: "Likelihood estimate (Eq. 5) after SFT against before",
    xLabel: "mean p of every SFT target before SFT",
    yLabel: "mean p after SFT",
    xDomain: [0, 1],
    yDomain: [0, 1],
  });
}

async function curvePlots(out: string, results: ExperimentResults): Promise<string[]> {
  const written: string[] = [];
  for (const [g, group] of groupsOf(results.cells).entries()) {
    const series: Series[] = [];
    for (const [label, cells] of rowsOf(group)) {
      if (label === "base") continue;
      const perStep = new Map<number, number[]>();
      for (const cell of cells) {
        const text = await Deno.readTextFile(`${out}/cells/${cell.key}.metrics.jsonl`).catch(
          () => "",
        );
        for (const line of text.split("\n")) {
          if (!line) continue;
          const m = JSON.parse(line) as { step: number; nll: number };
          perStep.set(m.step, [...(perStep.get(m.step) ?? []), m.nll]);
        }
      }
      series.push({
        name: label,
        points: [...perStep.entries()].sort((a, b) => a[0] - b[0]).map((
          [step, xs],
        ) => [step, meanStd(xs).mean] as const),
      });
    }
    if (series.length === 0) continue;
    const name = `curves-${g + 1}.svg`;
    await writeAtomic(
      `${out}/${name}`,
      lineChart(series, {
        title: `Training NLL per step: ${group.domain.replace(/\(.*\)$/, "")}, ${group.backbone}`,
        xLabel: "step",
        yLabel: "NLL of the batch (mean over seeds)",
      }),
    );
    written.push(name);
  }
  return written;
}

/**
 * Writes `results.json`, `metrics.jsonl`, `report.md` and the SVG plots into the output folder.
 *
 * @param out The output folder.
 * @param results The results so far.
 * @param title The experiment name.
 * @param figures The preset's own figures: a table each in report.md and `OUT/<file>`.
 */
export async function writeReport(
  out: string,
  results: ExperimentResults,
  title: string,
  figures: ReadonlyArray<FigureConfig> = [],
): Promise<void> {
  await writeAtomic(`${out}/results.json`, JSON.stringify(results, null, 2) + "\n");
  const metrics: string[] = [];
  for (const cell of results.cells) {
    metrics.push(await Deno.readTextFile(`${out}/cells/${cell.key}.metrics.jsonl`).catch(() => ""));
  }
  await writeAtomic(`${out}/metrics.jsonl`, metrics.join(""));
  await writeAtomic(`${out}/report.md`, renderReport(results, title, figures));
  if (results.cells.length > 0) {
    for (const figure of figures) {
      await writeAtomic(`${out}/${figure.file}`, figurePlot(figureData(figure, results.cells)));
    }
    await writeAtomic(`${out}/continuum.svg`, continuumPlot(results));
    await writeAtomic(`${out}/likelihood.svg`, likelihoodPlot(results));
    await curvePlots(out, results);
  }
}
