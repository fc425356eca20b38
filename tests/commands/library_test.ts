// README.md's "As a library" example, run as a user runs it: a fresh process imports mod.ts (by
// file URL instead of jsr:) and calls lossAndGrad; the printed loss and gradient are checked
// against the formula computed here in plain JavaScript. Without any permission the same script
// still works on the cpu backend and says so in one line on stderr.
import assert from "node:assert/strict";
import { assertClose, repoRoot, runDeno } from "./_run.ts";

const modUrl = new URL("../../mod.ts", import.meta.url).href;

// The README's example, verbatim apart from the import specifier and the printing line.
const script = `import { lossAndGrad } from ${JSON.stringify(modUrl)};
const { loss, gradLogits } = await lossAndGrad({
  objective: { id: "neg-prob" },
  logits: [[1, 2, 0.5]],
  targets: [1],
});
console.log(JSON.stringify({ loss, gradLogits }));
`;

/** neg-prob is f(p) = 1 − p (objectives/neg_prob.ts, paper Eq. 3 at α = 1), token mean. */
function expected(logits: number[], target: number): { loss: number; grad: number[] } {
  const max = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const probs = exps.map((e) => e / sum);
  const p = probs[target]!;
  // d(1 − p_t)/dz_j = −p_t (1[j = t] − p_j)
  return { loss: 1 - p, grad: probs.map((pj, j) => -p * ((j === target ? 1 : 0) - pj)) };
}

async function runScript(permissions: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "probsft-library-" });
  try {
    const file = `${dir}/example.ts`;
    await Deno.writeTextFile(file, script);
    // From the script's own folder, as a user's project would run it.
    return await runDeno(
      ["run", ...permissions, "--config", `${repoRoot}deno.json`, file],
      {},
      dir,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function checkPrinted(stdout: string): void {
  const printed = JSON.parse(stdout) as { loss: number; gradLogits: number[][] };
  const want = expected([1, 2, 0.5], 1);
  assertClose(printed.loss, want.loss, 1e-5, "loss");
  assert.equal(printed.gradLogits.length, 1);
  assert.equal(printed.gradLogits[0]!.length, 3);
  printed.gradLogits[0]!.forEach((g, j) => assertClose(g, want.grad[j]!, 1e-5, `d loss/d z${j}`));
  // The gradient of a function of the softmax sums to zero over the vocabulary.
  assertClose(printed.gradLogits[0]!.reduce((a, b) => a + b, 0), 0, 1e-6, "sum of the gradient");
}

Deno.test("README library example: lossAndGrad from mod.ts in a fresh process (default backend)", async () => {
  const result = await runScript(["-A"]);
  assert.equal(result.code, 0, result.stderr);
  checkPrinted(result.stdout);
  assert.equal(result.stderr.trim(), "", "nothing on stderr with all permissions");
});

Deno.test("README library example with no permissions falls back to cpu with a one-line note", async () => {
  const result = await runScript([]);
  assert.equal(result.code, 0, result.stderr);
  checkPrinted(result.stdout);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^probsft: .*using "cpu"/);
  assert.ok(!result.stderr.includes("    at "), "no stack trace");
});

Deno.test("the benchmarks entry's math grader with no permissions: the CAS cannot load, numbers still compare, one note", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probsft-library-" });
  try {
    const entry = new URL("../../benchmarks/mod.ts", import.meta.url).href;
    const file = `${dir}/grade.ts`;
    await Deno.writeTextFile(
      file,
      `import { extractMathAnswer, mathAnswersEqual } from ${JSON.stringify(entry)};
console.log(JSON.stringify([
  mathAnswersEqual(extractMathAnswer("so \\\\boxed{0.5}") ?? "", "0.5"),
  mathAnswersEqual("100001", "100000"),
  mathAnswersEqual("x^2+2x+1", "(x+1)^2"),
]));
`,
    );
    const result = await runDeno(["run", "--config", `${repoRoot}deno.json`, file], {}, dir);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), [true, false, false]);
    const lines = result.stderr.trim().split("\n").filter((l) => l.includes("computer-algebra"));
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^probsft: the math grader's computer-algebra system could not load/);
    assert.ok(!result.stderr.includes("    at "), "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every library entry works with no set-up call: backbones' loadHf, generate and saveHf", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probsft-library-" });
  try {
    const entry = new URL("../../backbones/mod.ts", import.meta.url).href;
    const file = `${dir}/round_trip.ts`;
    await Deno.writeTextFile(
      file,
      `import { Effect } from "effect";
import * as tf from "@tensorflow/tfjs";
import { loadHf, saveHf } from ${JSON.stringify(entry)};
const model = await Effect.runPromise(loadHf(${
        JSON.stringify(`${repoRoot}tests/fixtures/hf/llama`)
      }));
const [out] = await model.generate([[1, 5, 6]], { maxNewTokens: 3 });
await saveHf(model, ${JSON.stringify(`${dir}/copy`)});
const again = await Effect.runPromise(loadHf(${JSON.stringify(`${dir}/copy`)}));
const [back] = await again.generate([[1, 5, 6]], { maxNewTokens: 3 });
console.log(JSON.stringify({ out: out.tokenIds, back: back.tokenIds, backend: tf.getBackend() }));
`,
    );
    const result = await runDeno(["run", "-A", "--config", `${repoRoot}deno.json`, file], {}, dir);
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as { out: number[]; back: number[]; backend: string };
    // The default backend, started by the entry itself (not tfjs's cpu fallback and its banner).
    assert.equal(printed.backend, "wasm");
    assert.equal(result.stderr.trim(), "");
    assert.ok(printed.out.length > 0);
    assert.deepEqual(printed.back, printed.out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
