import "../_setup.ts";
import assert from "node:assert/strict";
import { Effect, Schema } from "effect";
import { testBenchmark, testDomain } from "../../core/testing.ts";
import {
  matchChoice,
  matchChoiceDetailed,
  medical,
  multipleChoice,
  similarityRatio,
} from "../../benchmarks/mod.ts";
import { knowledgeBase } from "../../benchmarks/medical/cases.ts";
import { checkSymbols } from "./_synthetic.ts";

const options = ["influenza", "common cold", "measles", "mumps"];

Deno.test("matchChoice() follows the match_choice rules, last match wins", () => {
  const cases: Array<[string, string | null, string | null]> = [
    ["The answer is (C)", "C", "strict"],
    ["the answer is C.", "C", "strict"],
    ["Answer is **B**", "B", "strict"],
    ["the answer is B. On reflection, the answer is D", "D", "strict"],
    ["Thinking about A...\n## Final Response\n\nthe answer is B", "B", "strict"],
    ["A patient like this one fits option B", "B", "letter"],
    ["I choose (A) over (C)", "C", "letter"],
    ["It is likely measles, not influenza. Actually mumps.", "D", "text"],
    ["Symptoms suggest a common cold", "B", "text"],
    ["mumpz", "D", "similarity"],
    ["", null, null],
    ["   ", null, null],
  ];
  for (const [text, letter, rule] of cases) {
    const got = matchChoiceDetailed(text, options);
    assert.equal(got?.letter ?? null, letter, text);
    assert.equal(got?.rule ?? null, rule, text);
    assert.equal(matchChoice(text, options), letter, text);
  }
  // letters beyond the option count are not options
  const three = matchChoiceDetailed("the answer is E", ["yes", "no", "maybe"]);
  assert.equal(three?.rule, "similarity");
  assert.ok(["A", "B", "C"].includes(three!.letter));
  assert.equal(matchChoice("anything", []), null);
});

Deno.test("similarityRatio() is difflib's ratio on simple cases", () => {
  assert.equal(similarityRatio("abcd", "bcde"), 0.75);
  assert.equal(similarityRatio("", ""), 1);
  assert.equal(similarityRatio("abc", "xyz"), 0);
});

Deno.test("multipleChoice conforms", () => {
  const example = { id: "1", prompt: "q", reference: "C", options };
  testBenchmark(multipleChoice, {
    cases: [
      { example, completion: "so the answer is C", expected: 1 },
      { example, completion: "The answer is (C)", expected: 1 },
      { example, completion: "clearly measles", expected: 1 },
      { example, completion: "the answer is D", expected: 0 },
      { example, completion: "", expected: 0 },
    ],
  });
});

Deno.test("medical domain conforms", async () => {
  await testDomain(medical);
  await testDomain(medical, { params: { conditions: 12, heldOutConditions: 3 }, seed: 4 });
});

Deno.test("medical domain: symbols, held-out conditions, consistent answers", () => {
  const decoded = Schema.decodeUnknownSync(medical.params)({});
  const data = Effect.runSync(medical.load(decoded, 0));
  checkSymbols(data);
  const kb = knowledgeBase(decoded.conditions, decoded.knowledgeSeed);
  const heldOut = new Set(kb.slice(0, decoded.heldOutConditions).map((c) => c.name));
  for (const e of data.sft) {
    for (const name of heldOut) assert.ok(!e.response.includes(` ${name} `), "held-out in SFT");
    const letter = e.response.split(" ").at(-1)!;
    const options = e.prompt.split("? ")[1]!.split(" ").filter((_, i) => i % 2 === 1);
    const chosen = options["ABCD".indexOf(letter)]!;
    assert.ok(e.response.includes(chosen), `${e.response} does not name option ${letter}`);
  }
  // the SFT response format scores 1 on a test item
  const example = data.benchmarks[0]!.examples[0]!;
  assert.equal(multipleChoice.score(example, `the answer is ${example.reference}`, {}), 1);
  // every test answer is stated in the prior corpus
  const corpus = data.priorCorpus.join(" ");
  for (const name of heldOut) assert.ok(corpus.includes(name), `${name} not in the corpus`);
});
