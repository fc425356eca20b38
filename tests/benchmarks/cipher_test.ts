import "../_setup.ts";
import assert from "node:assert/strict";
import { Effect, Schema } from "effect";
import { testBenchmark, testDomain } from "../../core/testing.ts";
import {
  cipher,
  type CipherParams,
  exactMatch,
  jaroWinkler,
  jaroWinklerBenchmark,
} from "../../benchmarks/mod.ts";
import { glyphs } from "../../benchmarks/cipher/glyphs.ts";
import { checkSymbols } from "./_synthetic.ts";

const small = { sftExamples: 3000, testItems: 200, corpusDocuments: 1000 };
const decode = (p: unknown): CipherParams => Schema.decodeUnknownSync(cipher.params)(p);
const load = (p: unknown, seed: number) => Effect.runSync(cipher.load(decode(p), seed));

Deno.test("jaroWinkler() matches the textbook values", () => {
  const cases: Array<[string, string, number]> = [
    ["MARTHA", "MARHTA", 0.9611],
    ["DWAYNE", "DUANE", 0.84],
    ["DIXON", "DICKSONX", 0.8133],
    ["abc", "abc", 1],
    ["abc", "xyz", 0],
    ["", "", 1],
    ["a", "", 0],
  ];
  for (const [a, b, expected] of cases) {
    assert.ok(Math.abs(jaroWinkler(a, b) - expected) < 1e-4, `${a} ${b} ${jaroWinkler(a, b)}`);
  }
  // prefix bonus is capped at 4 characters
  assert.ok(jaroWinkler("abcdefgh", "abcdefxy") < 1);
});

Deno.test("exactMatch and jaroWinklerBenchmark conform", () => {
  const example = { id: "0", prompt: "? | ( =", reference: "c a t" };
  testBenchmark(exactMatch, {
    cases: [
      { example, completion: "c a t", expected: 1 },
      { example, completion: "  c  a t\n", expected: 1 },
      { example, completion: "C a t", expected: 0 },
      { example, completion: "c a", expected: 0 },
    ],
  });
  testBenchmark(exactMatch, {
    params: { ignoreCase: true },
    cases: [{ example, completion: "C A T", expected: 1 }],
  });
  testBenchmark(jaroWinklerBenchmark, {
    params: { ignoreSpaces: true },
    cases: [
      { example, completion: "c a t", expected: 1 },
      { example, completion: "C A T", expected: 1 },
      { example, completion: "", expected: 0 },
      { example, completion: "c a r", expected: jaroWinkler("car", "cat") },
    ],
  });
});

Deno.test("cipher domain conforms", async () => {
  await testDomain(cipher, { params: small });
  await testDomain(cipher, { params: { ...small, glyphsPerLetter: 3, samples: 4 }, seed: 5 });
  assert.throws(() => decode({ glyphsPerLetter: 4 }));
  assert.throws(() => decode({ maxLetters: 13 }));
});

Deno.test("cipher domain: glyphs never in the corpus, low base probability", () => {
  const data = load(small, 0);
  checkSymbols(data);
  assert.equal(data.primary, "cipher-test/greedy");
  const glyphSet = new Set([...glyphs, "?", "="]);
  for (const doc of data.priorCorpus) {
    for (const s of doc.split(" ")) assert.ok(!glyphSet.has(s), `glyph ${s} in the corpus`);
  }
  // A letter-bigram model fitted to the prior corpus (the best one-letter-context predictor that
  // never saw a glyph; eos only at document ends) gives a low mean target probability.
  const counts = new Map<string, Map<string, number>>();
  const add = (prev: string, next: string) => {
    const row = counts.get(prev) ?? new Map<string, number>();
    row.set(next, (row.get(next) ?? 0) + 1);
    counts.set(prev, row);
  };
  for (const doc of data.priorCorpus) {
    const s = ["<bos>", ...doc.split(" "), "<eos>"];
    for (let i = 1; i < s.length; i++) add(s[i - 1]!, s[i]!);
  }
  const p = (prev: string, next: string) => {
    const row = counts.get(prev);
    if (!row) return 1 / 30;
    const total = [...row.values()].reduce((a, b) => a + b, 0);
    return (row.get(next) ?? 0) / total;
  };
  let sum = 0;
  let n = 0;
  for (const e of data.sft.slice(0, 1000)) {
    const s = ["=", ...e.response.split(" "), "<eos>"];
    for (let i = 1; i < s.length; i++, n++) sum += p(s[i - 1]!, s[i]!);
  }
  assert.ok(sum / n <= 0.1, `bigram mean target p ${sum / n}`);
  assert.ok(sum / n > 0, "degenerate oracle");
});

Deno.test("cipher domain: a word's glyphs decode back to it", () => {
  const data = load({ ...small, glyphsPerLetter: 2 }, 0);
  const codebook = new Map<string, string>();
  for (const e of data.sft) {
    const g = e.prompt.split(" ").slice(1, -1);
    const letters = e.response.split(" ");
    assert.equal(g.length, 2 * letters.length);
    letters.forEach((l, i) => {
      const code = `${g[2 * i]}${g[2 * i + 1]}`;
      assert.equal(codebook.get(code) ?? l, l, "mapping not a function");
      codebook.set(code, l);
    });
  }
  assert.equal(new Set(codebook.values()).size, codebook.size, "mapping not injective");
  const test = data.benchmarks[0]!.examples;
  for (const e of test) {
    const g = e.prompt.split(" ").slice(1, -1);
    const word = Array.from(
      { length: g.length / 2 },
      (_, i) => codebook.get(`${g[2 * i]}${g[2 * i + 1]}`),
    );
    if (word.every((l) => l !== undefined)) assert.equal(word.join(" "), e.reference);
  }
});
