/**
 * Batched decoding with a key/value cache.
 *
 * - Prompts of different lengths are left-padded; each row keeps its own positions (its first
 *   real token is at position 0) and its padding is masked out of attention.
 * - The first step runs the whole padded prompt block and fills the cache; every later step runs
 *   one token per row against the cache (the prefix is never recomputed). `useCache: false`
 *   recomputes the whole sequence each step, for checks.
 * - Greedy at temperature 0; otherwise softmax sampling at the temperature, restricted to the
 *   top-p nucleus, from a seeded generator (the same seed gives the same samples).
 * - Each chosen token's log-probability is taken at temperature 1 from the unmodified logits.
 * - A row stops at an end-of-sequence id (not included), at a stop string, or after
 *   `maxNewTokens`. When a stop string appears, the token that completed it is dropped from
 *   `tokenIds` and `logprobs`, and `text` is cut just before the stop string.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { GenerateOptions, Generation, Tokenizer } from "../core/plugin.ts";
import { uniform } from "./random.ts";

/** A model's key/value cache of earlier positions. */
export interface KvCache {
  /** Number of cached positions (padding included). */
  readonly length: number;
  /** Frees the cached tensors. */
  dispose(): void;
}

/** What one decoding step returns. */
export interface StepOutput {
  /** Logits of the last position of each row, `[batch, vocab]` (the caller disposes them). */
  readonly logits: tf.Tensor2D;
  /** The cache including the new positions (the caller disposes it). */
  readonly cache: KvCache;
}

/**
 * A decoding session with its own key/value cache (preallocated for the whole generation), as
 * {@link StepModel.openSession} returns it: each step's logits come back to the host in one read.
 */
export interface DecodeSession {
  /** Number of positions run so far (padding included). */
  readonly length: number;
  /**
   * Runs new tokens (the same count per row) after the earlier ones.
   *
   * @param tokens New ids per row (`[batch][time]`).
   * @param positions Their positions per row (`[batch][time]`).
   * @returns The logits of each row's last new position, `batch · vocab` values, row-major.
   * @throws RangeError past the positions the session was opened for.
   */
  step(
    tokens: ReadonlyArray<ReadonlyArray<number>>,
    positions: ReadonlyArray<ReadonlyArray<number>>,
  ): Float32Array;
  /** Frees the cache. */
  dispose(): void;
}

/** A model that can decode step by step. */
export interface StepModel {
  /** Size of the output layer. */
  readonly vocabSize: number;
  /** Longest sequence the model accepts. */
  readonly contextLength: number;
  /** Turns ids into text (for stop strings and the completion text). */
  readonly tokenizer: Tokenizer;
  /** Ids that end a row. */
  readonly eosIds: ReadonlyArray<number>;
  /**
   * Runs new tokens (the same count per row) after the cached ones.
   *
   * @param tokens New ids per row.
   * @param positions Their positions per row.
   * @param firstKey Per row, the first key index that is not left padding.
   * @param cache The cache of earlier positions, or none.
   */
  step(
    tokens: ReadonlyArray<ReadonlyArray<number>>,
    positions: ReadonlyArray<ReadonlyArray<number>>,
    firstKey: ReadonlyArray<number>,
    cache: KvCache | undefined,
  ): StepOutput;
  /**
   * Opens a fused decoding session, when the model has one for the active backend; {@link generate}
   * then uses it instead of {@link StepModel.step} (with the cache on).
   *
   * @param firstKey Per row, the first position that is not left padding.
   * @param slots Positions to hold: prompt width + new tokens.
   * @returns The session, or `undefined` to decode with `step`.
   */
  openSession?(firstKey: ReadonlyArray<number>, slots: number): DecodeSession | undefined;
}

function logSoftmax(row: Float32Array | Float64Array, scale: number): Float64Array {
  let max = -Infinity;
  for (const x of row) if (x * scale > max) max = x * scale;
  let sum = 0;
  for (const x of row) sum += Math.exp(x * scale - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i]! * scale - lse;
  return out;
}

/** `logSoftmax(row, 1)[id]` with the same arithmetic, without allocating. */
function logProbOf(row: Float32Array | Float64Array, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[id]! - (max + Math.log(sum));
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/**
 * Draws an id from logits at a temperature, within the top-p nucleus.
 *
 * @param row The logits.
 * @param temperature Softmax temperature (> 0).
 * @param topP Nucleus mass in (0, 1].
 * @param u A uniform draw in [0, 1).
 * @returns The chosen id.
 */
export function sampleToken(
  row: Float32Array | Float64Array,
  temperature: number,
  topP: number,
  u: number,
): number {
  const logp = logSoftmax(row, 1 / temperature);
  let ids = Array.from(logp.keys());
  if (topP < 1) {
    ids.sort((a, b) => logp[b]! - logp[a]! || a - b);
    let mass = 0;
    let keep = 0;
    while (keep < ids.length && mass < topP) mass += Math.exp(logp[ids[keep++]!]!);
    ids = ids.slice(0, Math.max(1, keep));
  }
  let total = 0;
  for (const id of ids) total += Math.exp(logp[id]!);
  let target = u * total;
  for (const id of ids) {
    target -= Math.exp(logp[id]!);
    if (target < 0) return id;
  }
  return ids[ids.length - 1]!;
}

/**
 * Where a completion stops: the first index in `text` of any of the stop strings (empty ones are
 * ignored), or -1 when none occurs. `generate` cuts each completion there.
 *
 * @param text Decoded completion text.
 * @param stops Stop strings.
 * @returns The index of the earliest stop string, or -1.
 */
export function firstStop(text: string, stops: ReadonlyArray<string>): number {
  let at = -1;
  for (const stop of stops) {
    if (stop.length === 0) continue;
    const i = text.indexOf(stop);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/**
 * Checks prompts and options before decoding; throws a one-line `RangeError` naming the bad
 * value.
 *
 * @param model The model.
 * @param prompts Token ids per prompt.
 * @param options Decoding options.
 */
export function checkGenerateInput(
  model: Pick<StepModel, "vocabSize" | "contextLength">,
  prompts: ReadonlyArray<ReadonlyArray<number>>,
  options: GenerateOptions,
): void {
  if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 0) {
    throw new RangeError(`maxNewTokens must be an integer >= 0, got ${options.maxNewTokens}`);
  }
  const t = options.temperature ?? 0;
  if (!(t >= 0) || !Number.isFinite(t)) {
    throw new RangeError(`temperature must be finite and >= 0, got ${t}`);
  }
  const p = options.topP ?? 1;
  if (!(p > 0 && p <= 1)) throw new RangeError(`topP must be in (0, 1], got ${p}`);
  prompts.forEach((prompt, row) => {
    if (prompt.length === 0) throw new RangeError(`Prompt ${row} is empty`);
    prompt.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= model.vocabSize) {
        throw new RangeError(
          `Token id ${id} at prompts[${row}][${i}] is outside the vocabulary (0..${
            model.vocabSize - 1
          })`,
        );
      }
    });
    if (prompt.length + options.maxNewTokens > model.contextLength) {
      throw new RangeError(
        `Prompt ${row} has ${prompt.length} tokens; with maxNewTokens ${options.maxNewTokens} it exceeds the context length ${model.contextLength}`,
      );
    }
  });
}

/**
 * Batched decoding (see the module doc for the rules).
 *
 * @param model A step model.
 * @param prompts Token ids per prompt (non-empty, inside the vocabulary).
 * @param options Decoding options.
 * @returns One generation per prompt, in order.
 */
export async function generate(
  model: StepModel,
  prompts: ReadonlyArray<ReadonlyArray<number>>,
  options: GenerateOptions,
): Promise<Generation[]> {
  checkGenerateInput(model, prompts, options);
  const batch = prompts.length;
  if (batch === 0) return [];
  const temperature = options.temperature ?? 0;
  const topP = options.topP ?? 1;
  const stops = options.stop ?? [];
  const useCache = options.useCache ?? true;
  const next = uniform(options.seed ?? 0);
  const eos = new Set(model.eosIds);
  const pad = model.tokenizer.padId;
  const width = Math.max(...prompts.map((p) => p.length));
  const firstKey = prompts.map((p) => width - p.length);
  const rows = prompts.map((p, b) => [...new Array(firstKey[b]).fill(pad), ...p]);
  const positionsOf = (b: number, from: number, to: number) =>
    Array.from({ length: to - from }, (_, j) => Math.max(0, from + j - firstKey[b]!));
  const chosen: number[][] = prompts.map(() => []);
  const logprobs: number[][] = prompts.map(() => []);
  const texts: (string | undefined)[] = prompts.map(() => undefined);
  const done = prompts.map(() => options.maxNewTokens === 0);
  let cache: KvCache | undefined;
  const session = useCache && options.maxNewTokens > 0
    ? model.openSession?.(firstKey, width + options.maxNewTokens)
    : undefined;
  try {
    for (let step = 0; step < options.maxNewTokens && done.some((d) => !d); step++) {
      const length = rows[0]!.length;
      let data: Float32Array;
      if (session !== undefined) {
        const from = session.length;
        data = session.step(
          rows.map((r) => r.slice(from)),
          rows.map((_, b) => positionsOf(b, from, length)),
        );
      } else {
        const from = useCache && cache ? length - 1 : 0;
        const out = model.step(
          rows.map((r) => r.slice(from)),
          rows.map((_, b) => positionsOf(b, from, length)),
          firstKey,
          useCache ? cache : undefined,
        );
        try {
          data = (await out.logits.data()) as Float32Array;
        } finally {
          out.logits.dispose();
          if (useCache) {
            cache?.dispose();
            cache = out.cache;
          } else out.cache.dispose();
        }
      }
      const vocab = model.vocabSize;
      for (let b = 0; b < batch; b++) {
        if (done[b]) {
          rows[b]!.push(pad);
          continue;
        }
        const row = data.subarray(b * vocab, (b + 1) * vocab);
        const id = temperature === 0 ? argmax(row) : sampleToken(row, temperature, topP, next());
        rows[b]!.push(id);
        if (eos.has(id)) {
          done[b] = true;
          continue;
        }
        const logp = logProbOf(row, id);
        chosen[b]!.push(id);
        logprobs[b]!.push(logp);
        if (stops.length > 0) {
          const text = model.tokenizer.decode(chosen[b]!);
          const at = firstStop(text, stops);
          if (at >= 0) {
            texts[b] = text.slice(0, at);
            chosen[b]!.pop();
            logprobs[b]!.pop();
            done[b] = true;
          }
        }
      }
    }
  } finally {
    cache?.dispose();
    session?.dispose();
  }
  return prompts.map((_, b) => ({
    tokenIds: chosen[b]!,
    text: texts[b] ?? model.tokenizer.decode(chosen[b]!),
    logprobs: logprobs[b]!,
  }));
}
