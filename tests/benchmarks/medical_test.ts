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
    ["I choose (A) over (C)", "A", "strict"],
    ["I'd pick between (A) and (C): (C)", "C", "letter"],
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

Deno.test("matchChoice() reads answers the way people write them (issue 14)", () => {
  const flu = ["flu", "cold", "measles", "mumps"];
  const calcium = [
    "Vitamin D toxicity",
    "Hypercalcemia of malignancy",
    "Primary hyperparathyroidism",
    "Sarcoidosis",
  ];
  const cases: Array<[string, ReadonlyArray<string>, string, string]> = [
    // case: a lowercase letter stated as the answer
    ["the answer is b", flu, "B", "strict"],
    ["Answer: (c)", flu, "C", "strict"],
    ["The correct option is d.", flu, "D", "strict"],
    ["Option B is correct.", flu, "B", "strict"],
    // words that look like letters are not letters; "a" stated as an article is not A
    ["A fever like this is a classic sign; I think it is measles", flu, "C", "text"],
    ["The answer is a viral illness, most likely mumps", flu, "D", "text"],
    // letters inside option text, and negation
    ["It is not vitamin D toxicity; it is hypercalcemia of malignancy.", calcium, "B", "text"],
    ["Vitamin D toxicity fits best.", calcium, "A", "text"],
    ["The answer is not A; the answer is C.", calcium, "C", "strict"],
    ["Rather than sarcoidosis, I favour primary hyperparathyroidism", calcium, "C", "text"],
    ["B, not D", flu, "B", "letter"],
    // option text quoted without its letter
    ['"Measles"', flu, "C", "text"],
  ];
  for (const [text, options, letter, rule] of cases) {
    const got = matchChoiceDetailed(text, options);
    assert.equal(got?.letter, letter, text);
    assert.equal(got?.rule, rule, text);
  }
});

Deno.test("matchChoice(): ten or more options", () => {
  const options = Array.from({ length: 12 }, (_, i) => `drug ${i + 1}`);
  assert.equal(matchChoice("the answer is J", options), "J");
  assert.equal(matchChoice("Answer: (L)", options), "L");
  assert.equal(matchChoice("I would give drug 11", options), "K");
  assert.equal(matchChoice("the answer is M", options)?.length, 1); // no option M: not strict
  assert.equal(matchChoiceDetailed("the answer is M", options)?.rule, "similarity");
  // "I" as a pronoun is not option I
  assert.equal(matchChoice("I think so; the answer is (e)", options), "E");
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
