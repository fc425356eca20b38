/**
 * Decoding and scoring: each held-out set of a domain is decoded under each of its decodings
 * (greedy, or k samples at a temperature for avg@k) and scored by its benchmark's pure rule.
 * Score keys are `"<set name>/<decoding name>"`.
 *
 * @module
 */
import { Effect } from "effect";
import { PluginError } from "./errors.ts";
import type { Benchmark, BenchmarkSet, Decoding, LanguageModel } from "./plugin.ts";
import { mixSeed } from "./random.ts";
import { encodeQuery } from "./sft_batches.ts";

/** Evaluation settings. */
export interface EvaluateOptions {
  /** Most items per set. */
  readonly maxItems?: number;
  /** Prompts decoded together. */
  readonly batchSize: number;
  /** Overrides the sample count of sampled decodings. */
  readonly samples?: number;
  /** Seed of the samplers. */
  readonly seed: number;
  /** Called with every scored completion (lm-eval's `--log_samples`). */
  readonly onSample?: (sample: LoggedSample) => void;
}

/** One scored completion, as logged to `cells/<key>.samples.jsonl`. */
export interface LoggedSample {
  /** The held-out set. */
  readonly set: string;
  /** The decoding (e.g. `greedy`, `t1`). */
  readonly decoding: string;
  /** Which of the decoding's samples (0 for greedy). */
  readonly sample: number;
  /** The item's id within its set. */
  readonly id: string;
  /** The generated text. */
  readonly completion: string;
  /** The item's reference answer. */
  readonly reference: string;
  /** The benchmark's score of the completion. */
  readonly score: number;
}

/** A benchmark with its decoded params. */
export interface Scorer {
  /** The scoring rule. */
  readonly benchmark: Benchmark<unknown>;
  /** Its params. */
  readonly params: unknown;
}

/** Scores per key, with item counts. */
export interface Scores {
  /** Mean score per `"<set>/<decoding>"`. */
  readonly scores: Readonly<Record<string, number>>;
  /** Items scored per key. */
  readonly items: Readonly<Record<string, number>>;
}

function decodeSet(
  model: LanguageModel,
  set: BenchmarkSet,
  scorer: Scorer,
  decoding: Decoding,
  options: EvaluateOptions,
): Effect.Effect<number, PluginError> {
  return Effect.gen(function* () {
    const examples = set.examples.slice(0, options.maxItems ?? set.examples.length);
    const samples = decoding.temperature > 0 ? (options.samples ?? decoding.samples) : 1;
    const encoded = examples.map((e) => encodeQuery(model.tokenizer, e.prompt, e.messages));
    // New tokens are capped by the room the set's longest prompt leaves in the context (the same
    // cap for every item, whatever the batching), as lm-eval caps max_gen_toks.
    const longest = encoded.reduce((m, ids, i) => (ids.length > encoded[m]!.length ? i : m), 0);
    const room = model.contextLength - (encoded[longest]?.length ?? 0);
    if (room < 1) {
      return yield* new PluginError({
        message: `Item ${examples[longest]!.id} of ${set.name} is ${
          encoded[longest]!.length
        } tokens long: no room for an answer in the model's context of ${model.contextLength}`,
        plugin: set.name,
      });
    }
    const maxNewTokens = Math.min(decoding.maxNewTokens, room);
    let total = 0;
    for (let s = 0; s < samples; s++) {
      for (let start = 0; start < examples.length; start += options.batchSize) {
        const chunk = examples.slice(start, start + options.batchSize);
        const prompts = encoded.slice(start, start + options.batchSize);
        const generations = yield* Effect.tryPromise({
          try: () =>
            model.generate(prompts, {
              maxNewTokens,
              temperature: decoding.temperature,
              ...(decoding.topP !== undefined ? { topP: decoding.topP } : {}),
              ...(decoding.stop !== undefined ? { stop: decoding.stop } : {}),
              seed: mixSeed(options.seed, s, start),
            }),
          catch: (error) =>
            new PluginError({
              message: `Generation for ${set.name} failed: ${
                String((error as Error)?.message ?? error).split("\n")[0]
              }`,
              plugin: set.name,
            }),
        });
        for (const [i, example] of chunk.entries()) {
          const score = yield* Effect.try({
            try: () => scorer.benchmark.score(example, generations[i]!.text, scorer.params),
            catch: (error) =>
              new PluginError({
                message:
                  `Benchmark "${scorer.benchmark.id}" failed to score item ${example.id} of ${set.name}: ${
                    String((error as Error)?.message ?? error).split("\n")[0]
                  }`,
                plugin: scorer.benchmark.id,
              }),
          });
          total += score;
          options.onSample?.({
            set: set.name,
            decoding: decoding.name,
            sample: s,
            id: example.id,
            completion: generations[i]!.text,
            reference: example.reference,
            score,
          });
        }
      }
    }
    return examples.length === 0 ? NaN : total / (examples.length * samples);
  });
}

/**
 * Scores a model on held-out sets.
 *
 * @param model The model.
 * @param sets The sets with their decodings.
 * @param scorers The resolved benchmark of each set, by set name.
 * @param options Batch size, item cap, samples and seed.
 * @returns Scores and item counts per key.
 */
export function evaluate(
  model: LanguageModel,
  sets: ReadonlyArray<BenchmarkSet>,
  scorers: ReadonlyMap<string, Scorer>,
  options: EvaluateOptions,
): Effect.Effect<Scores, PluginError> {
  return Effect.gen(function* () {
    const scores: Record<string, number> = {};
    const items: Record<string, number> = {};
    for (const set of sets) {
      const scorer = scorers.get(set.name)!;
      for (const decoding of set.decodings) {
        const key = `${set.name}/${decoding.name}`;
        scores[key] = yield* decodeSet(model, set, scorer, decoding, options);
        items[key] = Math.min(set.examples.length, options.maxItems ?? Infinity);
      }
    }
    return { scores, items };
  });
}
