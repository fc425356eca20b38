// The presets of the paper's other results (clean-control: Tab. 10; threshold-sweep: Fig. 5;
// alpha-sweep: Fig. 6; intermediate; model-weak-likelihood), each run shrunken as a user would
// shrink it (`deno task experiment --preset NAME path=value …`, tests/experiment/_shrink.ts) in a
// subprocess: every planned cell finishes, each figure's SVG is well-formed with one line per
// expected curve, and report.md has each figure's table with a row per curve. Nothing here says
// which objective should score higher; the numbers of a shrunken run mean nothing.
import assert from "node:assert/strict";
import type { ExperimentConfig, FigureConfig } from "../../core/config.ts";
import type { ExperimentResults } from "../../core/runner.ts";
import { shrinkOverrides } from "./_shrink.ts";

const root = new URL("../../", import.meta.url);

function experiment(args: ReadonlyArray<string>): Promise<Deno.CommandOutput> {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "experiment", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/** Throws unless the text is one well-formed XML element tree (tags balanced, text escaped). */
function assertWellFormed(svg: string, file: string): void {
  const body = svg.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  let roots = 0;
  let last = 0;
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const between = body.slice(last, m.index);
    assert.ok(!/[<>]|&(?!(amp|lt|gt|quot|#\d+);)/.test(between), `${file}: stray text ${between}`);
    last = m.index! + m[0].length;
    const [, closing, name, , selfClosing] = m;
    if (closing) assert.equal(stack.pop(), name, `${file}: </${name}> closes another element`);
    else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  assert.equal(body.slice(last).trim(), "", `${file}: text after the last tag`);
  assert.deepEqual(stack, [], `${file}: unclosed elements`);
  assert.equal(roots, 1, `${file}: one root element`);
  assert.ok(body.startsWith("<svg"), `${file}: an SVG document`);
}

function unescape(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");
}

function legendOf(svg: string): string[] {
  const legend = /<g class="legend">([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? "";
  return [...legend.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => unescape(m[1]!));
}

/** The rows (first cells) and column count of the markdown table under a heading. */
function tableUnder(report: string, heading: string): { rows: string[]; columns: number } {
  const start = report.indexOf(`## ${heading}\n`);
  assert.ok(start >= 0, `report.md has a section "${heading}"`);
  const lines = report.slice(start).split("\n").slice(1);
  const table = lines.slice(lines.findIndex((l) => l.startsWith("|")));
  const body = table.slice(0, table.findIndex((l) => !l.startsWith("|")));
  const split = (l: string) => l.slice(1, -1).split("|").map((c) => c.trim());
  return { rows: body.slice(2).map((l) => split(l)[0]!), columns: split(body[0]!).length };
}

/** Per preset and figure file: the legend entries (lines) the figure must have. */
const expectedLegends: Record<string, Record<string, string[]>> = {
  "clean-control": {
    "clean-control.svg": ["base", "-log p", "-p"],
    "clean-control-greedy.svg": ["base", "-log p", "-p"],
  },
  "threshold-sweep": {
    "threshold-sweep.svg": [
      "base",
      ...["thresholded-neg-log-prob", "thresholded-neg-prob", "thresholded-log-one-minus-prob"]
        .flatMap((id) => [`${id} · above`, `${id} · below`]),
    ],
  },
  "alpha-sweep": {
    "alpha-sweep.svg": ["model-strong: addition", "model-weak: cipher"].flatMap((
      level,
    ) => [level, `${level}: base`, `${level}: -log p`]),
    "likelihood-after-sft.svg": ["model-strong: addition", "model-weak: cipher"],
  },
  "intermediate": {
    "intermediate.svg": ["-log p", "-p"],
    "intermediate-greedy.svg": ["-log p", "-p"],
    "intermediate-mean-p.svg": ["-log p", "-p"],
  },
  "model-weak-likelihood": {
    "model-weak-likelihood.svg": ["pretrained-500", "unpretrained"],
    "model-weak-accuracy.svg": ["pretrained-500", "unpretrained"],
  },
};

function plannedCells(config: ExperimentConfig, seeds: number): number {
  return config.domains.reduce(
    (n, d) =>
      n +
      (d.backbones ?? config.backbones ?? []).length * seeds *
        ((d.objectives ?? config.objectives).length + (config.baseline === false ? 0 : 1)),
    0,
  );
}

for (const [name, legends] of Object.entries(expectedLegends)) {
  Deno.test(`--preset ${name}, shrunken: every cell, each figure's SVG and table`, async () => {
    const preset = JSON.parse(
      await Deno.readTextFile(new URL(`presets/${name}.json`, root)),
    ) as ExperimentConfig;
    const figures = preset.figures ?? [];
    assert.deepEqual(figures.map((f) => f.file).sort(), Object.keys(legends).sort());
    const out = await Deno.makeTempDir({ prefix: `probsft-${name}-` });
    try {
      const started = performance.now();
      const run = await experiment([
        "--preset",
        name,
        "--out",
        `${out}/run`,
        "--cache",
        `${out}/cache`,
        ...shrinkOverrides(preset),
      ]);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
      console.log(`${name}, shrunken: ${seconds.toFixed(1)} s`);
      const results = JSON.parse(
        await Deno.readTextFile(`${out}/run/results.json`),
      ) as ExperimentResults;
      assert.deepEqual(results.failures, []);
      assert.equal(results.cells.length, plannedCells(preset, 1));
      for (const cell of results.cells) {
        assert.ok(Number.isFinite(cell.primary), `${cell.key}: primary ${cell.primary}`);
        assert.ok(Number.isFinite(cell.meanPAfter), `${cell.key}: meanPAfter ${cell.meanPAfter}`);
      }
      const report = await Deno.readTextFile(`${out}/run/report.md`);
      for (const figure of figures as FigureConfig[]) {
        const svg = await Deno.readTextFile(`${out}/run/${figure.file}`);
        assertWellFormed(svg, figure.file);
        assert.deepEqual(legendOf(svg).sort(), [...legends[figure.file]!].sort(), figure.file);
        const table = tableUnder(report, figure.title);
        // The table: a row per series; a reference (`series: label`) is a column of its row.
        const rows = legends[figure.file]!.filter((l) =>
          !legends[figure.file]!.some((s) => l.startsWith(`${s}: `))
        );
        assert.deepEqual([...table.rows].filter((r) => r !== "highest").sort(), rows.sort());
        assert.ok(table.columns >= 2, `${figure.file}: columns`);
        assert.ok(!report.includes("No cell has a value at x"), `${figure.file}: x found`);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}

Deno.test("a bad figure field is a one-line error naming the field and the value", async () => {
  for (
    const [override, expected] of [
      ["figures.0.x=objective..alpha", /figures\[0\]\.x: .*got "objective\.\.alpha"/],
      ["figures.0.x=loss", /figures\[0\]\.x: .*got "loss"/],
      ["figures.0.file=../x.svg", /figures\[0\]\.file: .*got "\.\.\/x\.svg"/],
      [
        'figures.1.objectives=["-q"]',
        /figures\[1\]\.objectives\[0\]: no objective is labelled "-q"/,
      ],
      ["figures.1.file=alpha-sweep.svg", /figures\[1\]\.file: "alpha-sweep\.svg" is already/],
    ] as const
  ) {
    const run = await experiment(["--preset", "alpha-sweep", "--plan", override]);
    const stderr = new TextDecoder().decode(run.stderr).trim();
    assert.notEqual(run.code, 0, override);
    assert.match(stderr, expected, override);
    assert.equal(stderr.split("\n").length, 1, `${override}: one line, got ${stderr}`);
  }
});
