// `deno task bench` as a user runs it, with the fewest timed steps, on the default backend:
// plausible figures, no leak, OpenBLAS used exactly when it is installed. (One run only: the
// bench takes ~25 s on 2 cores; the with/without-OpenBLAS comparison is in generate_task_test.ts,
// probe_test.ts and soak_test.ts.)
import assert from "node:assert/strict";
import { assertOneLineError, hasBlas, okJson, runTask } from "./_run.ts";

interface BenchReport {
  backend: string;
  blas: string | null;
  fastPaths: boolean;
  trainStepMs: number;
  trainStepMsNegProb: number;
  tokensPerSecond: number;
  generateTokensPerSecond: number;
  generateTokensPerSecondNoCache: number;
  generateSpeedupFromCache: number;
  peakRssMb: number;
  tensors: { before: number; after: number };
  steps: number;
  machine: { cores: number; loadAverage: number[] };
  torch: Record<string, unknown>;
}

Deno.test("deno task bench --steps 1 --json: positive step time, no tensor leak (default backend)", async () => {
  const name = hasBlas ? "wasm + OpenBLAS" : "plain wasm";
  const r = okJson<BenchReport>(await runTask(["bench", "--steps", "1", "--json"]));
  assert.equal(r.backend, "wasm");
  assert.equal(r.blas !== null, hasBlas, `${name}: blas ${r.blas}`);
  if (r.blas !== null) assert.match(r.blas, /OpenBLAS/);
  assert.equal(r.steps, 4, "one step per round, four rounds");
  for (const key of ["trainStepMs", "trainStepMsNegProb"] as const) {
    assert.ok(r[key] > 0 && r[key] < 60_000, `${name}: ${key} ${r[key]}`);
  }
  for (
    const key of [
      "tokensPerSecond",
      "generateTokensPerSecond",
      "generateTokensPerSecondNoCache",
    ] as const
  ) {
    assert.ok(r[key] > 0 && Number.isFinite(r[key]), `${name}: ${key} ${r[key]}`);
  }
  // The cache makes generation faster (by far: the no-cache path recomputes every prefix).
  assert.ok(
    r.generateSpeedupFromCache > 1,
    `${name}: cache speed-up ${r.generateSpeedupFromCache}`,
  );
  assert.equal(r.tensors.after, r.tensors.before, `${name}: tensors leak`);
  assert.ok(r.peakRssMb > 10, `${name}: peak rss ${r.peakRssMb}`);
  assert.ok(r.machine.cores >= 1);
  assert.equal(r.torch.skipped, "not requested (--vs-torch)");
  assertOneLineError(
    await runTask(["bench", "--steps", "0"]),
    /bench: --steps must be a positive integer, got 0/,
  );
});

Deno.test("--backend cpu-blas runs a command; bench refuses a size the wasm heap cannot hold in one line", async () => {
  if (!hasBlas) {
    console.log("OpenBLAS is not installed: the cpu-blas command check is skipped");
  } else {
    const r = okJson<{ passed: boolean; checks: unknown[] }>(
      await runTask(["theory", "--json", "--backend", "cpu-blas"]),
    );
    assert.equal(r.passed, true, "the theorem checks pass on cpu-blas");
    assert.ok(r.checks.length >= 7);
  }
  assertOneLineError(
    await runTask(["bench", "--size", "gpt2-small", "--backend", "wasm"]),
    /bench --size gpt2-small \(micro-batch 4\) cannot run on wasm: .*124\.4M parameters.*use --backend cpu-blas/,
  );
  assertOneLineError(
    await runTask(["bench", "--size", "gpt2-large"]),
    /bench: --size must be one of reference, 27m, gpt2-small, gpt2-medium, got "gpt2-large"/,
  );
  assertOneLineError(
    await runTask(["bench", "--size", "gpt2-small", "--micro-batch", "3"]),
    /bench: --micro-batch must divide the batch of 8 at --size gpt2-small, got 3/,
  );
});
