import "../_setup.ts";
import assert from "node:assert/strict";
import { Effect, Schema } from "effect";
import { testBenchmark, testDomain } from "../../core/testing.ts";
import { exactMatch, general, normalizedMatch } from "../../benchmarks/mod.ts";
import { checkSymbols } from "./_synthetic.ts";

Deno.test("normalizedMatch conforms", () => {
  const example = { id: "1", prompt: "What is the capital of France?", reference: "Paris" };
  testBenchmark(normalizedMatch, {
    cases: [
      { example, completion: "Paris.", expected: 1 },
      { example, completion: "The answer is paris", expected: 1 },
      { example, completion: "Let me think.\nAnswer: Paris", expected: 1 },
      { example, completion: "It is Paris, of course", expected: 0 },
      { example, completion: "Lyon", expected: 0 },
    ],
  });
});

Deno.test("general domain conforms", async () => {
  await testDomain(general);
  await testDomain(general, { params: { maxItems: 9, entities: 20 }, seed: 2 });
});

Deno.test("general domain: answers are right and fit the context", () => {
  const data = Effect.runSync(general.load(Schema.decodeUnknownSync(general.params)({}), 0));
  checkSymbols(data);
  for (
    const e of [
      ...data.sft,
      ...data.benchmarks[0]!.examples.map((x) => ({
        prompt: x.prompt,
        response: x.reference,
      })),
    ]
  ) {
    const [task, rest] = e.prompt.split(" : ");
    if (rest === undefined) continue; // fact look-up
    const list = rest.replace(/ =$/, "").split(" ");
    const expected = {
      reverse: [...list].reverse().join(" "),
      sort: [...list].sort().join(" "),
      copy: list.join(" "),
      first: list[0],
      last: list.at(-1),
      count: String(list.length),
    }[task as "copy"];
    assert.equal(e.response, expected, e.prompt);
  }
  // facts asked in the test set are stated in the corpus
  const corpus = data.priorCorpus.join(" ");
  for (const e of data.benchmarks[0]!.examples) {
    const m = /^(color|home) of (\S+) \?$/.exec(e.prompt);
    if (m) assert.ok(corpus.includes(`the ${m[1]} of ${m[2]} is ${e.reference} .`), e.prompt);
    assert.equal(exactMatch.score(e, e.reference, { ignoreCase: false }), 1);
  }
});
