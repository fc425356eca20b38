/**
 * `math`: the model-strong synthetic task of the miniature recipe, 3-digit addition with a
 * column-step chain of thought. Texts are symbols joined by single spaces:
 *
 * ```text
 * prompt:          2 4 3 + 6 0 6 =
 * prior, old form: 3 + 6 + 0 = 0 9 ; 4 + 0 + 0 = 0 4 ; 2 + 6 + 0 = 0 8 ; A 8 4 9
 * prior, new form: 3 + 6 + 0 = 0 9 ; 4 + 0 + 0 = 0 4 ; 2 + 6 + 0 = 0 8 ; \boxed{ 8 4 9 }
 * ```
 *
 * - Prior corpus: clean problems; answer marker `A`, or the new `\boxed{ … }` format with
 *   probability `newFormatShare`. Fixed by `corpusSeed` (not by the run seed), so one pretrained
 *   base serves every SFT seed.
 * - SFT set: always the `\boxed` format, with rationale noise r (each of the 27 rationale tokens
 *   independently replaced, with probability r, by a different token of {0–9, +, =, ;}) and
 *   answer noise a (with probability a, a uniform wrong answer in [0, 2000)). Drawn from the run
 *   seed. The format's separators (where noise left them), `\boxed{`, `}` and the end token are
 *   marked as forced targets, so the probe places the model on the digits and the noise.
 * - Test set: clean problems fixed by `testSeed`, disjoint from the SFT set and the corpus; scored
 *   strictly by `boxed-number` (the completion ends with `\boxed{`, the exact digits without
 *   leading zeros, `}`, then nothing) greedy and at T = 1 avg@k. Primary: avg@k (the paper's MS
 *   metric). The optional lenient set reads either marker with `math-answer`.
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
  SftExample,
} from "../../core/plugin.ts";
import { flag, nonNegativeInt, positiveInt, rate } from "../_params.ts";
import { markForced } from "../_forced.ts";
import { makeRandom, type Random, subSeed } from "../_random.ts";

/** Params of {@link addition}. */
export interface AdditionParams {
  /** SFT examples (default 4800 = 150 steps × 32). */
  readonly sftExamples: number;
  /** Held-out test problems (default 250). */
  readonly testItems: number;
  /** Prior-corpus documents (default 32000 = 1000 pretraining steps × 32). */
  readonly corpusDocuments: number;
  /** Share of prior-corpus documents in the new `\boxed` format (default 0.3). */
  readonly newFormatShare: number;
  /** Rationale-token noise rate r of the SFT set (default 0.10). */
  readonly rationaleNoise: number;
  /** Wrong-answer rate a of the SFT set (default 0.25). */
  readonly answerNoise: number;
  /** Samples k of the T = 1 avg@k decoding (default 4). */
  readonly samples: number;
  /** Also score the test set leniently (`A` or `\boxed`), greedy (default false). */
  readonly lenient: boolean;
  /** Seed of the test set (default 999). */
  readonly testSeed: number;
  /** Seed of the prior corpus (default 1000). */
  readonly corpusSeed: number;
}

const params: ParamsSchema<AdditionParams> = Schema.Struct({
  sftExamples: positiveInt(4800),
  testItems: positiveInt(250),
  corpusDocuments: positiveInt(32000),
  newFormatShare: rate(0.3),
  rationaleNoise: rate(0.1),
  answerNoise: rate(0.25),
  samples: positiveInt(4),
  lenient: flag(false),
  testSeed: nonNegativeInt(999),
  corpusSeed: nonNegativeInt(1000),
});

const digits: ReadonlyArray<string> = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
/** The tokens rationale noise draws from. */
const noiseTokens: ReadonlyArray<string> = [...digits, "+", "=", ";"];
/** The old answer marker of the prior corpus. */
export const oldMarker = "A";
/** The opening symbol of the new answer format; the closing one is `}`. */
export const boxedOpen = "\\boxed{";

/** The symbol inventory of the `math` domain. */
export const additionSymbols: ReadonlyArray<string> = [
  ...noiseTokens,
  oldMarker,
  boxedOpen,
  "}",
];

const spaced = (n: number): string => [...String(n)].join(" ");

/**
 * The prompt of `a + b`, operands zero-padded to 3 digits: `2 4 3 + 6 0 6 =`.
 *
 * @param a First operand in [0, 999].
 * @param b Second operand in [0, 999].
 * @returns The symbol text.
 */
export function additionPrompt(a: number, b: number): string {
  const pad = (n: number) => [...String(n).padStart(3, "0")].join(" ");
  return `${pad(a)} + ${pad(b)} =`;
}

/**
 * The 27 rationale symbols of `a + b`: three column steps `da + db + c = s1 s0 ;`, units first.
 *
 * @param a First operand.
 * @param b Second operand.
 * @returns The symbols.
 */
export function additionRationale(a: number, b: number): string[] {
  const out: string[] = [];
  let carry = 0;
  for (let column = 0; column < 3; column++) {
    const da = Math.floor(a / 10 ** column) % 10;
    const db = Math.floor(b / 10 ** column) % 10;
    const s = da + db + carry;
    out.push(
      `${da}`,
      "+",
      `${db}`,
      "+",
      `${carry}`,
      "=",
      `${Math.floor(s / 10)}`,
      `${s % 10}`,
      ";",
    );
    carry = Math.floor(s / 10);
  }
  return out;
}

/**
 * The answer part: `A 8 4 9` (old) or `\boxed{ 8 4 9 }` (new).
 *
 * @param answer The number to state.
 * @param boxed New format.
 * @returns The symbol text.
 */
export function additionAnswer(answer: number, boxed: boolean): string {
  return boxed ? `${boxedOpen} ${spaced(answer)} }` : `${oldMarker} ${spaced(answer)}`;
}

function drawProblem(random: Random): [number, number] {
  return [random.int(0, 999), random.int(0, 999)];
}

/** Whether rationale position i holds a separator of the column-step format (`+ + = ;`). */
function isSeparator(i: number): boolean {
  return [1, 3, 5, 8].includes(i % 9);
}

function noisySft(random: Random, a: number, b: number, r: number, wrong: number): SftExample {
  const clean = additionRationale(a, b);
  const rationale = clean.map((token) =>
    random.chance(r) ? random.pick(noiseTokens.filter((t) => t !== token)) : token
  );
  let answer = a + b;
  if (random.chance(wrong)) {
    let other = answer;
    while (other === answer) other = random.int(0, 1999);
    answer = other;
  }
  // Forced: the format's separators where noise left them, the answer marker, the closing brace
  // and the end token; the digits (copied or computed) and every noisy token are not.
  const answerSymbols = additionAnswer(answer, true).split(" ");
  const forced = [
    ...rationale.map((token, i) => isSeparator(i) && token === clean[i]),
    ...answerSymbols.map((symbol) => symbol === boxedOpen || symbol === "}"),
  ];
  return { prompt: additionPrompt(a, b), ...markForced([...rationale, ...answerSymbols], forced) };
}

/**
 * Generates the `math` domain's data (pure and deterministic).
 *
 * @param options The params.
 * @param seed The run seed (SFT sample and noise).
 * @returns The domain data.
 */
export function generateAddition(options: AdditionParams, seed: number): DomainData {
  // Test problems first: fixed by testSeed, distinct.
  const testRandom = makeRandom(subSeed(options.testSeed, 1));
  const held = new Map<string, number>();
  const testPairs: Array<[number, number]> = [];
  while (testPairs.length < Math.min(options.testItems, 500_000)) {
    const [a, b] = drawProblem(testRandom);
    const prompt = additionPrompt(a, b);
    if (held.has(prompt)) continue;
    held.set(prompt, a + b);
    testPairs.push([a, b]);
  }
  const corpusRandom = makeRandom(subSeed(options.corpusSeed, 2));
  const priorCorpus: string[] = [];
  while (priorCorpus.length < options.corpusDocuments) {
    const [a, b] = drawProblem(corpusRandom);
    const prompt = additionPrompt(a, b);
    if (held.has(prompt)) continue;
    const boxed = corpusRandom.chance(options.newFormatShare);
    priorCorpus.push(
      `${prompt} ${additionRationale(a, b).join(" ")} ${additionAnswer(a + b, boxed)}`,
    );
  }
  const sftRandom = makeRandom(subSeed(seed, 3));
  const sft: SftExample[] = [];
  while (sft.length < options.sftExamples) {
    const [a, b] = drawProblem(sftRandom);
    if (held.has(additionPrompt(a, b))) continue;
    sft.push(noisySft(sftRandom, a, b, options.rationaleNoise, options.answerNoise));
  }
  const examples = testPairs.map(([a, b], i) => ({
    id: `addition-${String(i).padStart(4, "0")}`,
    prompt: additionPrompt(a, b),
    reference: String(a + b),
  }));
  const maxNewTokens = 40; // 27 rationale + \boxed{ + ≤ 4 digits + } = 33, with slack
  const greedy: Decoding = { name: "greedy", temperature: 0, samples: 1, maxNewTokens };
  const sampled: Decoding = {
    name: `avg@${options.samples}`,
    temperature: 1,
    samples: options.samples,
    maxNewTokens,
  };
  const benchmarks: BenchmarkSet[] = [{
    name: "addition-test",
    benchmark: { id: "boxed-number", params: { spaced: true } },
    examples,
    decodings: [greedy, sampled],
  }];
  if (options.lenient) {
    benchmarks.push({
      name: "addition-lenient",
      benchmark: { id: "math-answer", params: { strict: false, spaced: true } },
      examples,
      decodings: [greedy],
    });
  }
  return {
    priorCorpus,
    sft,
    benchmarks,
    primary: `addition-test/${sampled.name}`,
    symbols: additionSymbols,
  };
}

/** The `math` domain: 3-digit addition with chain of thought and noisy `\boxed` SFT data. */
export const addition: Domain<AdditionParams> = {
  id: "math",
  summary:
    "3-digit addition with column-step CoT; noisy \\boxed SFT data (model-strong when pretrained)",
  params,
  benchmarks: ["boxed-number", "math-answer"],
  load(options: AdditionParams, seed: number): Effect.Effect<DomainData, DataError> {
    return Effect.sync(() => generateAddition(options, seed));
  },
};
