// `deno task soak` as a user runs it (short), on the default backend with and without OpenBLAS
// where the machine has it: the tensor count stays flat and no step is skipped.
import assert from "node:assert/strict";
import { blasVariants, okJson, runTask } from "./_run.ts";

interface SoakReport {
  steps: number;
  samples: Array<{ step: number; tensors: number; rssMiB: number; seconds: number }>;
  tensorDrift: number;
  rssGrowthMiB: number;
  skippedSteps: number;
  stepsPerSecond: number;
}

Deno.test("deno task soak --steps 50: the tensor count stays flat (wasm, ± OpenBLAS)", async () => {
  for (const variant of blasVariants) {
    const report = okJson<SoakReport>(
      await runTask(["soak", "--steps", "50", "--every", "10", "--json"], variant.env),
    );
    assert.equal(report.steps, 50, variant.name);
    assert.deepEqual(report.samples.map((s) => s.step), [10, 20, 30, 40, 50], variant.name);
    const tensors = report.samples.map((s) => s.tensors);
    assert.ok(tensors.every((n) => n === tensors[0] && n > 0), `${variant.name}: ${tensors}`);
    assert.equal(report.tensorDrift, 0, variant.name);
    assert.equal(report.skippedSteps, 0, variant.name);
    assert.ok(report.stepsPerSecond > 0, `${variant.name}: ${report.stepsPerSecond} steps/s`);
    for (const s of report.samples) {
      assert.ok(s.rssMiB > 10 && s.rssMiB < 4096, `${variant.name}: rss ${s.rssMiB} MiB`);
    }
    assert.ok(Number.isFinite(report.rssGrowthMiB));
  }
  // The table form, and a bad flag.
  const table = await runTask(["soak", "--steps", "20", "--every", "10"], { PROBSFT_BLAS: "0" });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /\| 20 \| (\d+) \/ \1, 0 \|/);
  assert.match(table.stderr, /^step 10: \d+ tensors, rss/m);
  const bad = await runTask(["soak", "--steps", "0"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr.trim(), /^error: soak: --steps must be an integer >= 1/);
});
