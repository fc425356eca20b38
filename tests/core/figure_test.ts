import assert from "node:assert/strict";
import type { ExperimentConfig, FigureConfig } from "../../core/config.ts";
import { checkFigures, figureData, figurePlot, figureTable, valueAt } from "../../core/figure.ts";
import type { CellResult } from "../../core/runner.ts";

function cell(
  domain: string,
  objective: { id: string; params?: unknown; label: string },
  seed: number,
  primary: number,
): CellResult {
  return {
    key: `${domain}-${objective.label}-${seed}`,
    domain,
    backbone: { id: "pretrained", params: { steps: 10 }, label: "b" },
    objective: { params: {}, ...objective },
    seed,
    probe: { meanP: 0.5 },
    meanPAfter: primary / 2,
    scores: { "t/greedy": primary },
    primary,
  } as unknown as CellResult;
}

const nll = { id: "neg-log-prob", label: "nll" };
const gf = (alpha: number) => ({ id: "general-family", params: { alpha }, label: `a${alpha}` });

const sweep: FigureConfig = {
  title: "sweep",
  file: "sweep.svg",
  x: "objective.params.alpha",
  series: ["domain"],
  xLog: true,
};

const cells: CellResult[] = [
  ...[0, 1].flatMap((seed) => [
    cell("strong", gf(10), seed, 0.2 + 0.1 * seed),
    cell("strong", gf(0.5), seed, 0.6),
    cell("strong", nll, seed, 0.1),
    cell("weak", gf(10), seed, 0),
    cell("weak", gf(0.5), seed, 0.3),
    cell("weak", nll, seed, 0.9),
  ]),
];

Deno.test("valueAt reads dot paths of a cell record and is undefined past them", () => {
  const c = cells[0]!;
  assert.equal(valueAt(c, "objective.params.alpha"), 10);
  assert.equal(valueAt(c, "scores.t/greedy"), 0.2);
  assert.equal(valueAt(c, "objective.params.tau.percentile"), undefined);
});

Deno.test("a numeric sweep: columns sorted by x, rows without x as references, mean ± std over seeds", () => {
  const data = figureData(sweep, cells);
  assert.equal(data.numeric, true);
  assert.deepEqual(data.series, ["strong", "weak"]);
  assert.deepEqual(data.columns, ["0.5", "10", "nll"]);
  const table = figureTable(data).split("\n");
  assert.equal(table[0], "| domain | 0.5 | 10 | nll |");
  // Rows are levels, not objectives: each row's highest is bold, no "highest" row.
  assert.equal(table[2], "| strong | **60.0 ± 0.0** | 25.0 ± 7.1 | 10.0 ± 0.0 |");
  assert.equal(table[3], "| weak | 30.0 ± 0.0 | 0.0 ± 0.0 | **90.0 ± 0.0** |");
  assert.equal(table.length, 4);
  const svg = figurePlot(data);
  for (const name of ["strong", "strong: nll", "weak", "weak: nll"]) {
    assert.ok(svg.includes(`>${name}</text>`), name);
  }
  assert.equal(svg.match(/<path [^>]*stroke-dasharray="6 4"\/>/g)?.length, 2, "two dashed lines");
});

Deno.test("categories in order of appearance; rows that are objectives are ranked per column", () => {
  const figure: FigureConfig = {
    title: "t",
    file: "t.svg",
    x: "domain",
    y: "meanPAfter",
    objectives: ["nll", "a0.5"],
  };
  const data = figureData(figure, cells);
  assert.equal(data.numeric, false);
  assert.equal(data.percent, false);
  assert.deepEqual(data.columns, ["strong", "weak"]);
  const table = figureTable(data).split("\n");
  assert.equal(table[2], "| a0.5 | **0.300 ± 0.000** | 0.150 ± 0.000 |");
  assert.equal(table[3], "| nll | 0.050 ± 0.000 | **0.450 ± 0.000** |");
  assert.equal(table[4], "| highest | a0.5 | nll |");
  const svg = figurePlot(data);
  assert.ok(svg.includes(">strong</text>") && svg.includes(">weak</text>"), "category ticks");
});

Deno.test("a figure that finds no x or no cell says so in a note", () => {
  assert.match(figureData({ ...sweep, x: "objective.params.beta" }, cells).notes[0]!, /No cell/);
  assert.match(figureData({ ...sweep, objectives: ["zz"] }, cells).notes[0]!, /No finished/);
});

Deno.test("checkFigures names the field and the value of a bad label or a repeated file", () => {
  const config = {
    domains: [{ id: "math" }],
    objectives: [{ id: "neg-log-prob", label: "-log p" }],
    seeds: [0],
    figures: [sweep, { ...sweep, objectives: ["base", "-p"] }],
  } as ExperimentConfig;
  assert.match(
    checkFigures(config, "x.json")!.message,
    /^figures\[1\]\.file: "sweep\.svg" is already/,
  );
  const labels = { ...config, figures: [{ ...sweep, objectives: ["base", "-p"] }] };
  assert.match(
    checkFigures(labels, "x.json")!.message,
    /^figures\[0\]\.objectives\[1\]: no objective is labelled "-p" \(labels: "base", "-log p"\)/,
  );
  assert.equal(checkFigures({ ...config, figures: [sweep] }, "x.json"), undefined);
});
