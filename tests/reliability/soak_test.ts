// A test-sized soak: a few hundred training steps (with checkpoints and generation between chunks)
// keep the tfjs tensor count exactly flat and the resident set from climbing. It runs
// `deno task soak` in its own process, so that the resident set is that of the soak alone (test
// files run in parallel in one process); `deno task soak` alone runs 10,000 steps.
import assert from "node:assert/strict";
import type { SoakReport } from "../../commands/soak.ts";

Deno.test("deno task soak --steps 300: the tensor count stays flat and the resident set steady", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "soak", "--steps", "300", "--every", "20", "--json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  const report = JSON.parse(decoder.decode(out.stdout)) as SoakReport;
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
