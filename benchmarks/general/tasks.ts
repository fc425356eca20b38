/**
 * `general`: short instruction-following tasks over symbol lists, plus look-ups of facts stated
 * in the prior corpus; exact match, greedy. Texts are symbols joined by single spaces:
 *
 * ```text
 * reverse : k d a q =        → q a d k
 * sort : k d a q =           → a d k q
 * copy / first / last / count : k d a q =   → k d a q / k / q / 4
 * color of dorame ?          → red          (stated in the corpus: "the color of dorame is red .")
 * ```
 *
 * - Prior corpus: fact sentences and demonstrations of `copy`, `first` and `last` only, fixed by
 *   `corpusSeed`; `reverse`, `sort` and `count` are new to the base model.
 * - SFT: all tasks, facts of all but `heldOutEntities` entities; drawn from the run seed.
 * - Test: all tasks (prompts never in the SFT set), facts of held-out entities only.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { DataError } from "../../core/errors.ts";
import type { Domain, DomainData, Example, ParamsSchema, SftExample } from "../../core/plugin.ts";
import { nonNegativeInt, positiveInt } from "../_params.ts";
import { makeRandom, pseudoWords, type Random, subSeed } from "../_random.ts";

/** Params of {@link general}. */
export interface GeneralParams {
  /** SFT examples (default 3200 = 100 steps × 32). */
  readonly sftExamples: number;
  /** Held-out test items (default 300). */
  readonly testItems: number;
  /** Prior-corpus documents (default 4000). */
  readonly corpusDocuments: number;
  /** Entities with stated facts (default 40). */
  readonly entities: number;
  /** Entities whose facts are asked only in the test set (default 10). */
  readonly heldOutEntities: number;
  /** Shortest list (default 3). */
  readonly minItems: number;
  /** Longest list (default 6, at most 9). */
  readonly maxItems: number;
  /** Seed of the facts (default 7). */
  readonly knowledgeSeed: number;
  /** Seed of the test set (default 999). */
  readonly testSeed: number;
  /** Seed of the prior corpus (default 1000). */
  readonly corpusSeed: number;
}

const params: ParamsSchema<GeneralParams> = Schema.Struct({
  sftExamples: positiveInt(3200),
  testItems: positiveInt(300),
  corpusDocuments: positiveInt(4000),
  entities: positiveInt(40).check(Schema.isLessThanOrEqualTo(500)),
  heldOutEntities: positiveInt(10),
  minItems: positiveInt(3),
  maxItems: positiveInt(6).check(Schema.isLessThanOrEqualTo(9)),
  knowledgeSeed: nonNegativeInt(7),
  testSeed: nonNegativeInt(999),
  corpusSeed: nonNegativeInt(1000),
});

const items: ReadonlyArray<string> = [..."abcdefghijklmnopqrstuvwxyz"];
const digits: ReadonlyArray<string> = [..."0123456789"];
const colors: ReadonlyArray<string> = ["red", "blue", "green", "black", "white", "gold"];
const listTasks = ["reverse", "sort", "copy", "first", "last", "count"] as const;
/** The tasks the prior corpus demonstrates. */
const knownTasks: ReadonlyArray<(typeof listTasks)[number]> = ["copy", "first", "last"];
const words: ReadonlyArray<string> = [
  ...listTasks,
  ":",
  "=",
  "?",
  ".",
  "the",
  "color",
  "home",
  "of",
  "is",
];

/** One entity and its two facts. */
interface Entity {
  readonly name: string;
  readonly color: string;
  readonly home: string;
}

function entitiesOf(count: number, seed: number): { entities: Entity[]; places: string[] } {
  const random = makeRandom(subSeed(seed, 21));
  const avoid = new Set<string>([...words, ...colors]);
  const names = pseudoWords(random, count, { syllables: [2, 3], suffixes: [""], avoid });
  const places = pseudoWords(random, 12, {
    syllables: [1, 2],
    suffixes: ["ton", "ville", "burg"],
    avoid: new Set([...avoid, ...names]),
  });
  const entities = names.map((name) => ({
    name,
    color: random.pick(colors),
    home: random.pick(places),
  }));
  return { entities, places };
}

function listAnswer(task: (typeof listTasks)[number], list: ReadonlyArray<string>): string {
  switch (task) {
    case "reverse":
      return [...list].reverse().join(" ");
    case "sort":
      return [...list].sort().join(" ");
    case "copy":
      return list.join(" ");
    case "first":
      return list[0]!;
    case "last":
      return list[list.length - 1]!;
    case "count":
      return String(list.length);
  }
}

function listCase(
  random: Random,
  options: GeneralParams,
  tasks: ReadonlyArray<(typeof listTasks)[number]>,
): SftExample {
  const task = random.pick(tasks);
  const n = random.int(Math.min(options.minItems, options.maxItems), options.maxItems);
  const list = Array.from({ length: n }, () => random.pick(items));
  return { prompt: `${task} : ${list.join(" ")} =`, response: listAnswer(task, list) };
}

function factCase(random: Random, e: Entity): SftExample {
  return random.chance(0.5)
    ? { prompt: `color of ${e.name} ?`, response: e.color }
    : { prompt: `home of ${e.name} ?`, response: e.home };
}

/**
 * Generates the `general` domain's data (pure and deterministic).
 *
 * @param options The params.
 * @param seed The run seed (SFT sample).
 * @returns The domain data.
 */
export function generateGeneral(options: GeneralParams, seed: number): DomainData {
  const { entities, places } = entitiesOf(options.entities, options.knowledgeSeed);
  const heldOut = Math.min(options.heldOutEntities, options.entities - 1);
  const testEntities = entities.slice(0, heldOut);
  const trainEntities = entities.slice(heldOut);
  const testRandom = makeRandom(subSeed(options.testSeed, 22));
  const held = new Set<string>();
  const examples: Example[] = [];
  for (let tries = 0; examples.length < options.testItems && tries < 100 * options.testItems;) {
    tries++;
    const c = testRandom.chance(0.25)
      ? factCase(testRandom, testRandom.pick(testEntities))
      : listCase(testRandom, options, listTasks);
    if (held.has(c.prompt)) continue;
    held.add(c.prompt);
    const id = `general-${String(examples.length).padStart(4, "0")}`;
    examples.push({ id, prompt: c.prompt, reference: c.response });
  }
  const corpusRandom = makeRandom(subSeed(options.corpusSeed, 23));
  const priorCorpus: string[] = [];
  while (priorCorpus.length < options.corpusDocuments) {
    const parts: string[] = [];
    let length = 0;
    for (;;) {
      let part: string;
      if (corpusRandom.chance(0.5)) {
        const e = corpusRandom.pick(entities);
        part = corpusRandom.chance(0.5)
          ? `the color of ${e.name} is ${e.color} .`
          : `the home of ${e.name} is ${e.home} .`;
      } else {
        const c = listCase(corpusRandom, options, knownTasks);
        if (held.has(c.prompt)) continue;
        part = `${c.prompt} ${c.response} .`;
      }
      const n = part.split(" ").length;
      if (length + n > 48) break;
      parts.push(part);
      length += n;
    }
    priorCorpus.push(parts.join(" "));
  }
  const sftRandom = makeRandom(subSeed(seed, 24));
  const sft: SftExample[] = [];
  while (sft.length < options.sftExamples) {
    const c = sftRandom.chance(0.25)
      ? factCase(sftRandom, sftRandom.pick(trainEntities))
      : listCase(sftRandom, options, listTasks);
    // The end token is forced; every response symbol is content.
    if (!held.has(c.prompt)) sft.push({ ...c, forced: { eos: true } });
  }
  return {
    priorCorpus,
    sft,
    benchmarks: [{
      name: "general-test",
      benchmark: { id: "exact-match", params: {} },
      examples,
      decodings: [{ name: "greedy", temperature: 0, samples: 1, maxNewTokens: 12 }],
    }],
    primary: "general-test/greedy",
    symbols: [
      ...words,
      ...items,
      ...digits.filter((d) => !items.includes(d)),
      ...colors,
      ...places,
      ...entities.map((e) => e.name),
    ],
  };
}

/** The `general` domain: list instructions and fact look-ups, exact match. */
export const general: Domain<GeneralParams> = {
  id: "general",
  summary: "short instructions over symbol lists (reverse, sort, copy, ...) and fact look-ups",
  params,
  benchmarks: ["exact-match"],
  load(options: GeneralParams, seed: number): Effect.Effect<DomainData, DataError> {
    return Effect.sync(() => generateGeneral(options, seed));
  },
};
