/**
 * Turning SFT pairs into training batches: `[bos] prompt response [eos]`, shifted by one, with
 * the loss mask on the response and its end-of-sequence token (prompt and padding masked out, as
 * in verl's SFT dataset).
 *
 * @module
 */
import { DataError } from "./errors.ts";
import type { SftExample, Tokenizer } from "./plugin.ts";

/** One tokenized SFT pair. */
export interface EncodedPair {
  /** `[bos] prompt response eos`. */
  readonly ids: ReadonlyArray<number>;
  /** Tokens before the response (bos and prompt). */
  readonly promptLength: number;
}

/** A batch in flat typed arrays, right-padded to its longest row. */
export interface Batch {
  /** Rows. */
  readonly batch: number;
  /** Positions per row. */
  readonly time: number;
  /** Inputs `[batch, time]`. */
  readonly inputs: Int32Array;
  /** Targets (inputs shifted by one) `[batch, time]`. */
  readonly targets: Int32Array;
  /** 1 where the target is supervised. */
  readonly mask: Float32Array;
}

/**
 * Encodes the prompt of a generation request: `[bos] prompt`.
 *
 * @param tokenizer The tokenizer.
 * @param prompt The prompt text.
 * @returns Token ids.
 */
export function encodePrompt(tokenizer: Tokenizer, prompt: string): number[] {
  const ids = tokenizer.encode(prompt);
  return tokenizer.bosId === undefined ? ids : [tokenizer.bosId, ...ids];
}

/**
 * Tokenizes SFT pairs; a pair longer than the context is a DataError naming the set and item.
 *
 * @param examples The pairs.
 * @param tokenizer The model's tokenizer.
 * @param contextLength The model's context.
 * @param source The domain (named in errors).
 * @returns The encoded pairs.
 */
export function encodePairs(
  examples: ReadonlyArray<SftExample>,
  tokenizer: Tokenizer,
  contextLength: number,
  source: string,
): EncodedPair[] {
  return examples.map((example, i) => {
    const prompt = encodePrompt(tokenizer, example.prompt);
    const ids = [...prompt, ...tokenizer.encode(example.response), tokenizer.eosId];
    // One more token than the context is fine: inputs and targets are both ids.length − 1 long.
    if (ids.length - 1 > contextLength) {
      throw new DataError({
        message: `SFT item ${i} of ${source} is ${
          ids.length - 1
        } tokens long, longer than the model's context of ${contextLength}`,
        file: source,
      });
    }
    return { ids, promptLength: prompt.length };
  });
}

/**
 * Builds one batch: inputs `ids[:-1]`, targets `ids[1:]`, mask on targets at or after the
 * response start, padding with `padId` and mask 0.
 *
 * @param pairs The rows.
 * @param padId The padding id.
 * @returns The batch.
 */
export function makeBatch(pairs: ReadonlyArray<EncodedPair>, padId: number): Batch {
  const time = Math.max(...pairs.map((p) => p.ids.length - 1));
  const batch = pairs.length;
  const inputs = new Int32Array(batch * time).fill(padId);
  const targets = new Int32Array(batch * time).fill(padId);
  const mask = new Float32Array(batch * time);
  pairs.forEach((pair, row) => {
    for (let t = 0; t < pair.ids.length - 1; t++) {
      inputs[row * time + t] = pair.ids[t]!;
      targets[row * time + t] = pair.ids[t + 1]!;
      // The target at t is token t + 1: supervised when it belongs to the response.
      if (t + 1 >= pair.promptLength) mask[row * time + t] = 1;
    }
  });
  return { batch, time, inputs, targets, mask };
}
