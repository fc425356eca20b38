import "../_setup.ts";
import assert from "node:assert/strict";
import { Effect, Schema } from "effect";
import { testBenchmark, testDomain } from "../../core/testing.ts";
import {
  addition,
  type AdditionParams,
  boxedNumber,
  mathAnswer,
  readBoxedNumber,
} from "../../benchmarks/mod.ts";
import { additionRationale } from "../../benchmarks/math/addition.ts";
import { checkSymbols } from "./_synthetic.ts";

const small = { sftExamples: 2000, testItems: 300, corpusDocuments: 2000 };
const decode = (p: unknown): AdditionParams => Schema.decodeUnknownSync(addition.params)(p);
const load = (p: unknown, seed: number) => Effect.runSync(addition.load(decode(p), seed));

Deno.test("math domain conforms (defaults and small sizes)", async () => {
  await testDomain(addition);
  await testDomain(addition, { params: { ...small, lenient: true }, seed: 3 });
});

Deno.test("math domain: defaults follow the miniature recipe", () => {
  const p = decode({});
  assert.deepEqual(
    [p.sftExamples, p.testItems, p.newFormatShare, p.rationaleNoise, p.answerNoise, p.samples],
    [4800, 250, 0.3, 0.1, 0.25, 4],
  );
  const data = load({}, 0);
  assert.equal(data.primary, "addition-test/avg@4");
  assert.equal(data.sft.length, 4800);
  checkSymbols(data);
});

Deno.test("math domain: noise rates, formats and a clean test set", () => {
  const data = load(small, 1);
  let boxed = 0;
  for (const doc of data.priorCorpus) if (doc.includes("\\boxed{")) boxed++;
  const share = boxed / data.priorCorpus.length;
  assert.ok(Math.abs(share - 0.3) < 0.04, `boxed share ${share}`);
  let changed = 0;
  let wrong = 0;
  for (const e of data.sft) {
    const [a, b] = e.prompt.split(" + ").map((s) => Number(s.replaceAll(" ", "").replace("=", "")));
    const tokens = e.response.split(" ");
    assert.equal(tokens[27], "\\boxed{");
    assert.equal(tokens.at(-1), "}");
    const clean = additionRationale(a!, b!);
    changed += tokens.slice(0, 27).filter((t, i) => t !== clean[i]).length;
    if (Number(tokens.slice(28, -1).join("")) !== a! + b!) wrong++;
  }
  const r = changed / (27 * data.sft.length);
  const w = wrong / data.sft.length;
  assert.ok(Math.abs(r - 0.1) < 0.01, `rationale noise ${r}`);
  assert.ok(Math.abs(w - 0.25) < 0.03, `answer noise ${w}`);
  const set = data.benchmarks[0]!;
  for (const e of set.examples) {
    const [a, b] = e.prompt.split(" + ").map((s) => Number(s.replaceAll(" ", "").replace("=", "")));
    assert.equal(e.reference, String(a! + b!));
    // the clean boxed response scores 1 strictly; the old format scores 0
    const clean = `${additionRationale(a!, b!).join(" ")} \\boxed{ ${[...e.reference].join(" ")} }`;
    assert.equal(set.benchmark.id, "boxed-number");
    const params = { spaced: true };
    assert.equal(boxedNumber.score(e, clean, params), 1);
    assert.equal(boxedNumber.score(e, clean.replace("\\boxed{", "A").slice(0, -2), params), 0);
    assert.equal(mathAnswer.score(e, clean, { strict: true, spaced: true }), 1);
  }
  const corpus = new Set(data.priorCorpus.map((d) => d.split(" ").slice(0, 8).join(" ")));
  for (const e of set.examples) assert.ok(!corpus.has(e.prompt), `${e.id} in the corpus`);
});

Deno.test("boxed-number: marker, exact digits, closing brace, then end of text (issue 14)", () => {
  const example = { id: "1", prompt: "4 0 0 + 4 0 0 =", reference: "800" };
  const rationale = "0 + 0 + 0 = 0 0 ; 0 + 0 + 0 = 0 0 ; 4 + 4 + 0 = 0 8 ;";
  testBenchmark(boxedNumber, {
    params: { spaced: true },
    cases: [
      { example, completion: `${rationale} \\boxed{ 8 0 0 }`, expected: 1 },
      { example, completion: `${rationale} \\boxed{ 8 0 0 } `, expected: 1 },
      { example, completion: `${rationale} \\boxed{ 8 0 0`, expected: 0 }, // unclosed
      { example, completion: `${rationale} \\boxed{ 8 0 0 } 7`, expected: 0 }, // trailing text
      { example, completion: `${rationale} \\boxed{ 8 0 0 } ;`, expected: 0 },
      { example, completion: `${rationale} \\boxed{ 0 8 0 0 }`, expected: 0 }, // leading zero
      { example, completion: `${rationale} \\boxed{ 8 }`, expected: 0 }, // off by a factor of 100
      { example, completion: `${rationale} \\boxed{ 8 0 0 0 0 }`, expected: 0 },
      { example, completion: `${rationale} A 8 0 0`, expected: 0 }, // the old marker
      { example, completion: `${rationale} \\boxed{ 8 0 1 }`, expected: 0 },
      { example, completion: "", expected: 0 },
    ],
  });
  testBenchmark(boxedNumber, {
    cases: [
      { example, completion: "so \\boxed{800}", expected: 1 },
      { example, completion: "so \\boxed{ 800 }", expected: 0 },
      { example, completion: "so \\boxed{800}.", expected: 0 },
      { example: { ...example, reference: "0" }, completion: "\\boxed{0}", expected: 1 },
    ],
  });
  assert.equal(readBoxedNumber("\\boxed{ 8 4 9 }", true), "849");
  assert.equal(readBoxedNumber("\\boxed{ 0 0 }", true), null);
});

Deno.test("math domain: the seed moves the SFT set only", () => {
  const a = load(small, 1);
  const b = load(small, 2);
  assert.notDeepEqual(a.sft, b.sft);
  assert.deepEqual(a.benchmarks, b.benchmarks);
  assert.deepEqual(a.priorCorpus, b.priorCorpus);
});
