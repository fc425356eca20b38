// A test-sized soak: a few hundred training steps (with checkpoints and generation between chunks)
// keep the tfjs tensor count exactly flat and the resident set from climbing. `deno task soak`
// runs 10,000 steps and prints the figures.
import { Effect } from "effect";
import assert from "node:assert/strict";
import { soak } from "../../commands/soak.ts";
import { useBackend } from "../../core/tensor.ts";

// The default backend (wasm), as `deno task soak` and real runs use; cpu is ~5x slower here.
await Effect.runPromise(useBackend("wasm"));

Deno.test("soak(): 300 steps keep the tensor count flat and the resident set steady", async () => {
  const dir = await Deno.makeTempDir();
  const report = await Effect.runPromise(soak({ steps: 300, every: 20, dir }));
  await Deno.remove(dir, { recursive: true });
  assert.equal(report.samples.length, 15);
  assert.equal(report.tensorDrift, 0, JSON.stringify(report.samples.map((s) => s.tensors)));
  assert.equal(report.skippedSteps, 0);
  assert.ok(
    report.rssGrowthMiB < 48,
    `resident set grew ${report.rssGrowthMiB.toFixed(1)} MiB after warm-up: ${
      report.samples.map((s) => s.rssMiB.toFixed(0)).join(" ")
    }`,
  );
});
