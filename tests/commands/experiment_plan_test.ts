// `deno task experiment --plan` as a user runs it: the paper preset's memory plan for
// Qwen2.5-Math-1.5B (its published config.json alone, no weights) fits an 80 GB GPU with the
// preset's micro-batches, recomputation and loss chunks, and does not without recomputation; a
// symbol-domain preset is sized from its longest SFT example.
import assert from "node:assert/strict";
import { runTask } from "./_run.ts";
import { tinyPreset } from "../_presets.ts";

const qwen = "domains.0.backbones.0.params.path=tests/fixtures/configs/qwen2.5-math-1.5b";

Deno.test("experiment --plan: the paper preset fits 80 GB with recomputation, not without", async () => {
  const gpu = { PROBSFT_MEMORY_LIMIT_MB: String(80 * 1024) };
  const fits = await runTask(["experiment", "--preset", "paper", "--plan", qwen], gpu);
  assert.equal(fits.code, 0, fits.stderr);
  assert.match(
    fits.stdout,
    /Qwen2\.5-Math-1\.5B: fits: [\d.]+ GiB of 80\.00 GiB on backend webgpu/,
  );
  assert.match(fits.stdout, /1543\.7M parameters/);
  assert.match(fits.stdout, /micro-batch 4 × 4096, blocks recomputed/);
  assert.match(fits.stdout, /batch 256 as 64 micro-batch\(es\)/);
  const without = await runTask(
    ["experiment", "--preset", "paper", "--plan", qwen, "train.recompute=false"],
    gpu,
  );
  assert.equal(without.code, 0, without.stderr);
  assert.match(without.stdout, /Qwen2\.5-Math-1\.5B: does NOT fit: /);
});

Deno.test("experiment --plan sizes a built model from its longest SFT example", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const preset = `${dir}/tiny.json`;
    await Deno.writeTextFile(
      preset,
      JSON.stringify(tinyPreset("plan", { steps: 2, checkpointEvery: 1, sftExamples: 16 })),
    );
    const run = await runTask(["experiment", "--preset", preset, "--plan"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /: fits: .* on backend wasm: .*the longest SFT example\)/);
    // Nothing was run or written.
    assert.ok(!run.stdout.includes("cells finished"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
