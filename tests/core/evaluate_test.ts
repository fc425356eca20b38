/**
 * Evaluation caps new tokens by the room the set's longest prompt leaves in the context (so a
 * decoding's maxNewTokens larger than the context works, as lm-eval caps max_gen_toks), the same
 * for every batching; an item with no room is a one-line error naming it.
 */
import "../_setup.ts";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import { loadHf } from "../../backbones/hf.ts";
import { evaluate } from "../../core/evaluate.ts";
import type { Benchmark, BenchmarkSet } from "../../core/plugin.ts";

const llama = new URL("../fixtures/hf/llama", import.meta.url).pathname;

/** Scores the completion's token count, to see the cap. */
const length: Benchmark<unknown> = {
  id: "length",
  summary: "completion length",
  family: "test",
  params: undefined as never,
  score: (_example, completion) => completion.split(" ").filter((w) => w !== "").length,
};

function set(prompts: string[], maxNewTokens: number): BenchmarkSet {
  return {
    name: "s",
    benchmark: { id: "length" },
    examples: prompts.map((prompt, i) => ({ id: `s:${i}`, prompt, reference: "" })),
    decodings: [{ name: "greedy", temperature: 0, samples: 1, maxNewTokens }],
  };
}

Deno.test("evaluate caps new tokens by the context room of the set's longest prompt", async () => {
  const model = await Effect.runPromise(loadHf(llama, { noChatTemplate: true }));
  const scorers = new Map([["s", { benchmark: length, params: {} }]]);
  const prompts = ["1 + 2", "1 + 2 + 3 + 4 + 5 + 6 + 7"];
  // Context 32; the longest prompt is 13 tokens: at most 19 new tokens, whatever the batch size.
  for (const batchSize of [1, 2]) {
    const { scores } = await Effect.runPromise(
      evaluate(model, [set(prompts, 1024)], scorers, { batchSize, seed: 0 }),
    );
    assert.ok(scores["s/greedy"]! <= 19, `${scores["s/greedy"]}`);
    assert.ok(scores["s/greedy"]! > 0);
  }
  const long = Array.from({ length: 32 }, () => "1").join(" ");
  const exit = await Effect.runPromiseExit(
    evaluate(model, [set(["1", long], 8)], scorers, { batchSize: 2, seed: 0 }),
  );
  assert.ok(Exit.isFailure(exit));
  assert.match(
    JSON.stringify(exit.cause),
    /Item s:1 of s is 32 tokens long: no room for an answer in the model's context of 32/,
  );
  model.dispose();
});
