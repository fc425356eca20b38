// `deno task generate` as a user runs it on the Llama fixture, on the default backend with and
// without OpenBLAS (where the machine has it), against the cpu reference backend. (The flag
// handling is tested in-process in generate_test.ts.)
import assert from "node:assert/strict";
import { assertClose, assertOneLineError, blasVariants, okJson, runTask } from "./_run.ts";

const llama = "tests/fixtures/hf/llama";

interface Generation {
  tokenIds: number[];
  text: string;
  logprobs: number[];
}

Deno.test("deno task generate --token-ids --json: greedy, same tokens and logprobs on wasm (± OpenBLAS) as on cpu", async () => {
  const args = [
    "generate",
    "--model",
    llama,
    "--token-ids",
    "1,5,6",
    "--max-tokens",
    "4",
    "--json",
  ];
  const reference = okJson<Generation>(await runTask([...args, "--backend", "cpu"]));
  assert.ok(reference.tokenIds.length >= 1 && reference.tokenIds.length <= 4);
  assert.equal(reference.logprobs.length, reference.tokenIds.length);
  assert.equal(typeof reference.text, "string");
  for (const id of reference.tokenIds) assert.ok(Number.isInteger(id) && id >= 0 && id < 24);
  for (const lp of reference.logprobs) {
    assert.ok(lp <= 1e-6 && Number.isFinite(lp), `logprob ${lp}`);
  }
  for (const variant of blasVariants) {
    const result = okJson<Generation>(await runTask(args, variant.env));
    assert.deepEqual(result.tokenIds, reference.tokenIds, variant.name);
    assert.equal(result.text, reference.text, variant.name);
    result.logprobs.forEach((lp, i) =>
      assertClose(lp, reference.logprobs[i]!, 1e-4, `${variant.name} logprob ${i}`)
    );
  }
  // A text prompt prints the completion as plain text.
  const text = await runTask(
    ["generate", "--model", llama, "--prompt", "1 2", "--max-tokens", "3"],
    {
      PROBSFT_BLAS: "0",
    },
  );
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout.split("\n").length, 2, `one line: ${JSON.stringify(text.stdout)}`);
  assertOneLineError(
    await runTask(["generate", "--model", llama, "--token-ids", "1,500"]),
    /token id 500 at position 1 is outside the vocabulary of 24 ids/,
  );
});
