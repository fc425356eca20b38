/**
 * `cipher`: the model-weak synthetic task, an analogue of the paper's figlet-font puzzles. A word
 * is drawn in a glyph alphabet (each letter as `glyphsPerLetter` glyph symbols under a fixed random
 * mapping) and the model must answer the word in letters:
 *
 * ```text
 * prompt:   ? ( | / _ ) ) =        (the word "cat" with 2 glyphs per letter)
 * response: c a t
 * ```
 *
 * - Glyphs never occur in the prior corpus, which is plain lowercase pseudo-word text
 *   (`k e l o , m a r i t , …`), so the base model has no route to the answer and its mean
 *   target probability stays low: the answer letters are uniform (expected p of a letter ≤ 1/26
 *   under any prior) and eos follows a word only at document ends.
 * - SFT set: clean random words (`minLetters`–`maxLetters` letters), drawn from the run seed.
 * - Test set: random words fixed by `testSeed`, disjoint from the SFT words; scored by exact match
 *   (primary) and Jaro–Winkler, greedy, `maxLetters + 1` new tokens.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { DataError } from "../../core/errors.ts";
import type {
  BenchmarkSet,
  Decoding,
  Domain,
  DomainData,
  ParamsSchema,
} from "../../core/plugin.ts";
import { flag, nonNegativeInt, positiveInt } from "../_params.ts";
import { markForced } from "../_forced.ts";
import { makeRandom, type Random, subSeed } from "../_random.ts";

/** Params of {@link cipher}. */
export interface CipherParams {
  /** SFT examples (default 32000 = 1000 steps × 32). */
  readonly sftExamples: number;
  /** Held-out test words (default 250). */
  readonly testItems: number;
  /** Prior-corpus documents of plain pseudo-word text (default 8000). */
  readonly corpusDocuments: number;
  /** Shortest word (default 3). */
  readonly minLetters: number;
  /** Longest word (default 5; at most 12). */
  readonly maxLetters: number;
  /** Glyph symbols per letter, 2 or 3 (default 2: 6 glyphs, 36 codes). */
  readonly glyphsPerLetter: number;
  /** Also score with Jaro–Winkler (default true). */
  readonly similarity: boolean;
  /** Samples k of an extra T = 1 avg@k decoding; 0 for greedy only (default 0). */
  readonly samples: number;
  /** Seed of the glyph mapping (default 42). */
  readonly cipherSeed: number;
  /** Seed of the test set (default 999). */
  readonly testSeed: number;
  /** Seed of the prior corpus (default 1000). */
  readonly corpusSeed: number;
}

const params: ParamsSchema<CipherParams> = Schema.Struct({
  sftExamples: positiveInt(32000),
  testItems: positiveInt(250),
  corpusDocuments: positiveInt(8000),
  minLetters: positiveInt(3),
  maxLetters: positiveInt(5).check(Schema.isLessThanOrEqualTo(12)),
  glyphsPerLetter: positiveInt(2).check(Schema.isBetween({ minimum: 2, maximum: 3 })),
  similarity: flag(true),
  samples: nonNegativeInt(0),
  cipherSeed: nonNegativeInt(42),
  testSeed: nonNegativeInt(999),
  corpusSeed: nonNegativeInt(1000),
});

/** The lowercase letters a–z, the answer symbols. */
export const letters: ReadonlyArray<string> = [..."abcdefghijklmnopqrstuvwxyz"];
/** The glyph symbols (ASCII-art strokes); none is a letter or appears in the prior corpus. */
export const glyphs: ReadonlyArray<string> = ["|", "/", "\\", "_", "(", ")"];
/** The prompt's opening symbol, the separator of prompt and answer, and the corpus word gap. */
const [open, equals, gap] = ["?", "=", ","] as const;
const corpusWordsMax = 48; // symbols per corpus document, well inside a 64-token context

/**
 * The fixed letter → glyph-code mapping: an injective random assignment of codes of
 * `glyphsPerLetter` glyphs (from the first 6 or 3 glyphs) to the 26 letters.
 *
 * @param glyphsPerLetter 2 or 3.
 * @param seed The mapping seed.
 * @returns Each letter's glyph symbols.
 */
export function glyphMapping(glyphsPerLetter: number, seed: number): Map<string, string[]> {
  const alphabet = glyphs.slice(0, glyphsPerLetter === 2 ? 6 : 3);
  const codes: string[][] = [[]];
  for (let k = 0; k < glyphsPerLetter; k++) {
    const next: string[][] = [];
    for (const code of codes) for (const g of alphabet) next.push([...code, g]);
    codes.splice(0, codes.length, ...next);
  }
  const chosen = makeRandom(subSeed(seed, 5)).shuffle(codes).slice(0, letters.length);
  return new Map(letters.map((letter, i) => [letter, chosen[i]!]));
}

/**
 * The prompt of a word: `?`, its glyphs, `=`.
 *
 * @param word Lowercase letters.
 * @param mapping From {@link glyphMapping}.
 * @returns The symbol text.
 */
export function cipherPrompt(word: string, mapping: ReadonlyMap<string, string[]>): string {
  return [open, ...[...word].flatMap((c) => mapping.get(c)!), equals].join(" ");
}

function randomWord(random: Random, min: number, max: number): string {
  const n = random.int(min, max);
  let word = "";
  for (let i = 0; i < n; i++) word += random.pick(letters);
  return word;
}

/**
 * Generates the `cipher` domain's data (pure and deterministic).
 *
 * @param options The params.
 * @param seed The run seed (SFT sample).
 * @returns The domain data.
 */
export function generateCipher(options: CipherParams, seed: number): DomainData {
  const min = Math.min(options.minLetters, options.maxLetters);
  const max = options.maxLetters;
  const mapping = glyphMapping(options.glyphsPerLetter, options.cipherSeed);
  const testRandom = makeRandom(subSeed(options.testSeed, 6));
  const testWords = new Set<string>();
  const space = Array.from({ length: max - min + 1 }, (_, i) => 26 ** (min + i))
    .reduce((a, b) => a + b, 0);
  const testCount = Math.min(options.testItems, Math.floor(space / 2));
  while (testWords.size < testCount) testWords.add(randomWord(testRandom, min, max));
  const sftRandom = makeRandom(subSeed(seed, 7));
  const sftCount = Math.min(options.sftExamples, space - testWords.size);
  const sft = [];
  while (sft.length < sftCount) {
    const word = randomWord(sftRandom, min, max);
    if (testWords.has(word)) continue;
    // The end token is forced (fixed by the word's length); the letters are not.
    sft.push({ prompt: cipherPrompt(word, mapping), ...markForced([...word], []) });
  }
  // Prior corpus: plain pseudo-word text over a Zipf-like lexicon; no glyph, no `?`, no `=`.
  const corpusRandom = makeRandom(subSeed(options.corpusSeed, 8));
  const lexicon = Array.from({ length: 2000 }, () => randomWord(corpusRandom, 2, 7));
  const priorCorpus: string[] = [];
  while (priorCorpus.length < options.corpusDocuments) {
    const symbols: string[] = [];
    for (;;) {
      const word = lexicon[Math.floor(lexicon.length * corpusRandom.next() ** 2)]!;
      if (symbols.length + word.length + 1 > corpusWordsMax) break;
      if (symbols.length > 0) symbols.push(gap);
      symbols.push(...word);
    }
    priorCorpus.push(symbols.join(" "));
  }
  const examples = [...testWords].map((word, i) => ({
    id: `cipher-${String(i).padStart(4, "0")}`,
    prompt: cipherPrompt(word, mapping),
    reference: [...word].join(" "),
  }));
  const decodings: Decoding[] = [{
    name: "greedy",
    temperature: 0,
    samples: 1,
    maxNewTokens: max + 1,
  }];
  if (options.samples > 0) {
    decodings.push({
      name: `avg@${options.samples}`,
      temperature: 1,
      samples: options.samples,
      maxNewTokens: max + 1,
    });
  }
  const benchmarks: BenchmarkSet[] = [{
    name: "cipher-test",
    benchmark: { id: "exact-match", params: { ignoreCase: false } },
    examples,
    decodings,
  }];
  if (options.similarity) {
    benchmarks.push({
      name: "cipher-similarity",
      benchmark: { id: "jaro-winkler", params: { ignoreCase: true, ignoreSpaces: true } },
      examples,
      decodings,
    });
  }
  return {
    priorCorpus,
    sft,
    benchmarks,
    primary: "cipher-test/greedy",
    symbols: [...letters, ...glyphs, open, equals, gap],
  };
}

/** The `cipher` domain: decode words drawn in an unseen glyph alphabet (model-weak). */
export const cipher: Domain<CipherParams> = {
  id: "cipher",
  summary:
    "decode words drawn in a glyph alphabet absent from pretraining (figlet analogue; model-weak)",
  params,
  benchmarks: ["exact-match", "jaro-winkler"],
  load(options: CipherParams, seed: number): Effect.Effect<DomainData, DataError> {
    return Effect.sync(() => generateCipher(options, seed));
  },
};
