/**
 * `medical`: multiple-choice case questions over a generated knowledge base, the synthetic
 * stand-in for MedQA-style exams (model-intermediate: the facts are in the prior corpus, the
 * question format is not). Texts are symbols (whole words) joined by single spaces:
 *
 * ```text
 * corpus:   patients with torosis often have kemalgia . torosis is treated with ravimab .
 * prompt:   a patient has kemalgia and sufrash . which condition is most likely ? A … B … C … D …
 * response: kemalgia and sufrash point to torosis . the answer is C
 * ```
 *
 * - Knowledge base: `conditions` pseudo-word conditions, each with two findings and one treatment
 *   (all distinct pseudo-words), fixed by `knowledgeSeed`.
 * - Prior corpus: prose stating those facts, fixed by `corpusSeed`.
 * - SFT: diagnosis and treatment questions about all but `heldOutConditions` conditions, with a
 *   short reasoning and "the answer is X"; drawn from the run seed.
 * - Test: the same kinds of questions about the held-out conditions only (known only from the
 *   corpus), so test prompts never occur in the SFT set; scored by `multiple-choice`, greedy.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { DataError } from "../../core/errors.ts";
import type {
  Domain,
  DomainData,
  Example,
  ForcedTargets,
  ParamsSchema,
  SftExample,
} from "../../core/plugin.ts";
import { markForced } from "../_forced.ts";
import { nonNegativeInt, positiveInt } from "../_params.ts";
import { makeRandom, pseudoWords, type Random, subSeed } from "../_random.ts";
import { optionLetters } from "./match_choice.ts";

/** Params of {@link medical}. */
export interface MedicalParams {
  /** Conditions in the knowledge base (default 24, at least 8). */
  readonly conditions: number;
  /** Conditions asked about only in the test set (default 8). */
  readonly heldOutConditions: number;
  /** SFT examples (default 1920 = 60 steps × 32). */
  readonly sftExamples: number;
  /** Held-out test items (default 200). */
  readonly testItems: number;
  /** Prior-corpus documents (default 4000). */
  readonly corpusDocuments: number;
  /** Seed of the knowledge base (default 7). */
  readonly knowledgeSeed: number;
  /** Seed of the test set (default 999). */
  readonly testSeed: number;
  /** Seed of the prior corpus (default 1000). */
  readonly corpusSeed: number;
}

const params: ParamsSchema<MedicalParams> = Schema.Struct({
  conditions: positiveInt(24).check(Schema.isBetween({ minimum: 8, maximum: 200 })),
  heldOutConditions: positiveInt(8),
  sftExamples: positiveInt(1920),
  testItems: positiveInt(200),
  corpusDocuments: positiveInt(4000),
  knowledgeSeed: nonNegativeInt(7),
  testSeed: nonNegativeInt(999),
  corpusSeed: nonNegativeInt(1000),
});

/** One condition of the generated knowledge base. */
export interface Condition {
  /** Its name. */
  readonly name: string;
  /** Its two findings. */
  readonly findings: readonly [string, string];
  /** Its treatment. */
  readonly treatment: string;
}

const functionWords: ReadonlyArray<string> = [
  "a",
  "patient",
  "has",
  "and",
  ".",
  "which",
  "condition",
  "is",
  "most",
  "likely",
  "?",
  "with",
  "needs",
  "drug",
  "treats",
  "it",
  "point",
  "to",
  "treated",
  "the",
  "answer",
  "patients",
  "often",
  "have",
  "sign",
  "of",
  "used",
  "for",
  "can",
  "cause",
];

/**
 * Generates the knowledge base.
 *
 * @param count Conditions.
 * @param seed The knowledge seed.
 * @returns The conditions.
 */
export function knowledgeBase(count: number, seed: number): Condition[] {
  const random = makeRandom(subSeed(seed, 11));
  const avoid = new Set([...functionWords, ...optionLetters(4)]);
  const names = pseudoWords(random, count, {
    syllables: [1, 2],
    suffixes: ["osis", "itis", "emia", "oma"],
    avoid,
  });
  const findings = pseudoWords(random, 2 * count, {
    syllables: [1, 2],
    suffixes: ["algia", "rash", "ache", "cough"],
    avoid,
  });
  const drugs = pseudoWords(random, count, {
    syllables: [1, 2],
    suffixes: ["mab", "cillin", "pril", "statin"],
    avoid,
  });
  return names.map((name, i) => ({
    name,
    findings: [findings[2 * i]!, findings[2 * i + 1]!],
    treatment: drugs[i]!,
  }));
}

function factSentence(random: Random, c: Condition): string {
  const f = random.pick(c.findings);
  switch (random.int(0, 4)) {
    case 0:
      return `patients with ${c.name} often have ${c.findings[0]} and ${c.findings[1]} .`;
    case 1:
      return `${f} is a sign of ${c.name} .`;
    case 2:
      return `${c.name} can cause ${f} .`;
    case 3:
      return `${c.name} is treated with ${c.treatment} .`;
    default:
      return `${c.treatment} is used for ${c.name} .`;
  }
}

/** A question with its options, the correct letter and the SFT response. */
interface Case {
  readonly prompt: string;
  readonly options: string[];
  readonly letter: string;
  readonly response: string;
  /** The response's forced targets: the template's words and the end token. */
  readonly forced: ForcedTargets;
}

/** A response from template words (forced) and content (not), as symbols joined by spaces. */
function templated(parts: ReadonlyArray<readonly [string, boolean]>) {
  const pieces = parts.flatMap(([text, fixed]) => text.split(" ").map((w) => [w, fixed] as const));
  return markForced(pieces.map(([w]) => w), pieces.map(([, fixed]) => fixed));
}

function makeCase(random: Random, c: Condition, all: ReadonlyArray<Condition>): Case {
  const others = random.shuffle(all.filter((o) => o !== c)).slice(0, 3);
  const diagnosis = random.chance(0.5);
  const pickOf = (o: Condition) => (diagnosis ? o.name : o.treatment);
  const options = random.shuffle([c, ...others].map(pickOf));
  const letters = optionLetters(4);
  const letter = letters[options.indexOf(pickOf(c))]!;
  const listed = options.map((o, i) => `${letters[i]} ${o}`).join(" ");
  if (diagnosis) {
    const [f1, f2] = random.shuffle(c.findings);
    return {
      prompt: `a patient has ${f1} and ${f2} . which condition is most likely ? ${listed}`,
      options,
      letter,
      ...templated([
        [f1!, false],
        ["and", true],
        [f2!, false],
        ["point to", true],
        [c.name, false],
        [". the answer is", true],
        [letter, false],
      ]),
    };
  }
  return {
    prompt: `a patient has ${c.name} . which drug treats it ? ${listed}`,
    options,
    letter,
    ...templated([
      [c.name, false],
      ["is treated with", true],
      [c.treatment, false],
      [". the answer is", true],
      [letter, false],
    ]),
  };
}

/**
 * Generates the `medical` domain's data (pure and deterministic).
 *
 * @param options The params.
 * @param seed The run seed (SFT sample).
 * @returns The domain data.
 */
export function generateMedical(options: MedicalParams, seed: number): DomainData {
  const kb = knowledgeBase(options.conditions, options.knowledgeSeed);
  const heldOut = Math.min(options.heldOutConditions, options.conditions - 4);
  const test = kb.slice(0, heldOut);
  const train = kb.slice(heldOut);
  const corpusRandom = makeRandom(subSeed(options.corpusSeed, 12));
  const priorCorpus: string[] = [];
  while (priorCorpus.length < options.corpusDocuments) {
    const sentences: string[] = [];
    let length = 0;
    for (;;) {
      const s = factSentence(corpusRandom, corpusRandom.pick(kb));
      const n = s.split(" ").length;
      if (length + n > 48) break;
      sentences.push(s);
      length += n;
    }
    priorCorpus.push(sentences.join(" "));
  }
  const testRandom = makeRandom(subSeed(options.testSeed, 13));
  const seen = new Set<string>();
  const examples: Example[] = [];
  for (let tries = 0; examples.length < options.testItems && tries < 100 * options.testItems;) {
    tries++;
    const c = makeCase(testRandom, testRandom.pick(test), kb);
    if (seen.has(c.prompt)) continue;
    seen.add(c.prompt);
    examples.push({
      id: `medical-${String(examples.length).padStart(4, "0")}`,
      prompt: c.prompt,
      reference: c.letter,
      options: c.options,
    });
  }
  const sftRandom = makeRandom(subSeed(seed, 14));
  const sft: SftExample[] = [];
  while (sft.length < options.sftExamples) {
    const c = makeCase(sftRandom, sftRandom.pick(train), kb);
    sft.push({ prompt: c.prompt, response: c.response, forced: c.forced });
  }
  const words = kb.flatMap((c) => [c.name, ...c.findings, c.treatment]);
  return {
    priorCorpus,
    sft,
    benchmarks: [{
      name: "medical-test",
      benchmark: { id: "multiple-choice", params: {} },
      examples,
      decodings: [{ name: "greedy", temperature: 0, samples: 1, maxNewTokens: 16 }],
    }],
    primary: "medical-test/greedy",
    symbols: [...functionWords, ...optionLetters(4), ...words],
  };
}

/** The `medical` domain: multiple-choice cases over a knowledge base stated in the corpus. */
export const medical: Domain<MedicalParams> = {
  id: "medical",
  summary: "multiple-choice cases over a generated knowledge base stated in the prior corpus",
  params,
  benchmarks: ["multiple-choice"],
  load(options: MedicalParams, seed: number): Effect.Effect<DomainData, DataError> {
    return Effect.sync(() => generateMedical(options, seed));
  },
};
