// `deno task experiment` as a user runs it: a tiny preset file plus a `path=value` override, on
// the default backend; the run writes results, metrics, report and plots.
import assert from "node:assert/strict";
import { assertOneLineError, runTask } from "./_run.ts";
import { tinyPreset } from "../_presets.ts";

const preset = tinyPreset("commands-test", { steps: 6, checkpointEvery: 3 });

interface Cell {
  key: string;
  objective: { id: string };
  seed: number;
  probe: { meanP: number; regime: string };
  meanPAfter: number;
  scores: Record<string, number>;
  primaryKey: string;
  primary: number;
  training?: { steps: number; skippedSteps: number };
}

Deno.test("deno task experiment --preset FILE seeds=[1]: cells, report, metrics and plots", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probsft-experiment-" });
  try {
    const presetPath = `${dir}/tiny.json`;
    await Deno.writeTextFile(presetPath, JSON.stringify(preset));
    const out = `${dir}/out`;
    const args = ["experiment", "--preset", presetPath, "--out", out, "--cache", `${dir}/cache`];
    const run = await runTask([...args, "seeds=[1]"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr + run.stdout, /commands-test: 3 cells finished, 0 failed/);

    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`)) as {
      name: string;
      cells: Cell[];
      failures: unknown[];
    };
    assert.equal(results.name, "commands-test");
    assert.deepEqual(results.failures, []);
    assert.deepEqual(results.cells.map((c) => c.objective.id).sort(), [
      "base",
      "neg-log-prob",
      "neg-prob",
    ]);
    for (const cell of results.cells) {
      assert.equal(cell.seed, 1, `the override seeds=[1] applies (${cell.key})`);
      assert.ok(cell.probe.meanP > 0 && cell.probe.meanP < 1, `${cell.key} probe`);
      assert.equal(cell.probe.regime, "model-weak");
      assert.ok(cell.meanPAfter > 0 && cell.meanPAfter < 1, `${cell.key} mean p after`);
      assert.ok(cell.primaryKey in cell.scores, `${cell.key} primary key`);
      for (const [key, score] of Object.entries(cell.scores)) {
        assert.ok(score >= 0 && score <= 1, `${cell.key} ${key} = ${score}`);
      }
      if (cell.objective.id !== "base") {
        assert.deepEqual(cell.training, { steps: 6, skippedSteps: 0 }, cell.key);
      }
    }

    // One metrics line per training step and objective, with finite losses.
    const metrics = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map(
      (line) => JSON.parse(line) as { step: number; loss: number; nll: number; meanP: number },
    );
    assert.equal(metrics.length, 12);
    for (const m of metrics) {
      assert.ok(Number.isFinite(m.loss) && m.nll > 0 && m.meanP > 0 && m.meanP < 1);
    }

    const report = await Deno.readTextFile(`${out}/report.md`);
    assert.match(report, /^# commands-test/);
    assert.match(report, /\| base \|/);
    assert.match(report, /\| neg-log-prob \|/);
    assert.match(report, /\| neg-prob \|/);
    for (const svg of ["continuum.svg", "likelihood.svg"]) {
      assert.match(await Deno.readTextFile(`${out}/${svg}`), /<svg/, svg);
    }

    // The same command again resumes: every cell is already finished, nothing changes.
    const again = await runTask([...args, "seeds=[1]"]);
    assert.equal(again.code, 0, again.stderr);
    const rerun = JSON.parse(await Deno.readTextFile(`${out}/results.json`)) as { cells: Cell[] };
    assert.deepEqual(
      rerun.cells.map((c) => [c.key, c.scores, c.meanPAfter]),
      results.cells.map((c) => [c.key, c.scores, c.meanPAfter]),
    );

    assertOneLineError(
      await runTask(["experiment", "--preset", "no-such-preset"]),
      /Unknown preset "no-such-preset"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
