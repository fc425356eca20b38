/**
 * Turning SFT examples into training batches, with the loss mask on the supervised tokens only
 * (completion-only loss):
 *
 * - a prompt/response pair: `prefix prompt response eos`, where `prefix` is what the tokenizer
 *   adds before a text (`[bos]` for Llama, nothing for Qwen2 or GPT-2); with a chat template the
 *   prompt is one rendered user turn with the generation prompt and no prefix. Prompt and
 *   response are encoded separately (verl's SFT dataset, the paper's code); the response and the
 *   end-of-sequence token are supervised.
 * - an empty prompt: plain language modelling on the response (`prefix response eos`, all of it
 *   supervised; never templated).
 * - a conversation: rendered by the chat template; each supervised message (by default the
 *   assistant turns) is the text it adds to the rendering after the generation prompt, as TRL's
 *   `assistant_only_loss` supervises; the pieces are encoded one by one without special tokens.
 *   A template whose rendering of earlier turns changes with later ones (e.g. one that drops the
 *   reasoning of earlier turns) is refused with the message's index.
 *
 * Then inputs are `ids[:-1]`, targets `ids[1:]`, padding masked out.
 *
 * @module
 */
import { DataError } from "./errors.ts";
import type { ChatMessage, ForcedTargets, SftExample, SftMessage, Tokenizer } from "./plugin.ts";

/** One tokenized SFT example. */
export interface EncodedPair {
  /** The token ids. */
  readonly ids: ReadonlyArray<number>;
  /** 1 where the token at that position is supervised (never the first), same length. */
  readonly supervised: Uint8Array;
  /**
   * 1 where the token at that position is a supervised target the domain marked as forced
   * ({@link SftExample.forced}), same length; absent when none is.
   */
  readonly forced?: Uint8Array;
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
 * The ids a tokenizer puts before a text (its `specialPrefix`, else `[bosId]` when it has one).
 *
 * @param tokenizer The tokenizer.
 * @returns The prefix ids.
 */
export function prefixOf(tokenizer: Tokenizer): ReadonlyArray<number> {
  return tokenizer.specialPrefix ?? (tokenizer.bosId === undefined ? [] : [tokenizer.bosId]);
}

/**
 * Encodes a raw prompt as transformers' `tokenizer(prompt)` does (special prefix, no suffix).
 *
 * @param tokenizer The tokenizer.
 * @param prompt The prompt text.
 * @returns Token ids.
 */
export function encodePrompt(tokenizer: Tokenizer, prompt: string): number[] {
  return [...prefixOf(tokenizer), ...tokenizer.encode(prompt)];
}

/**
 * Encodes an evaluation query: with a chat template, the conversation (or the prompt as one
 * user turn) rendered with the generation prompt; otherwise {@link encodePrompt}.
 *
 * @param tokenizer The tokenizer.
 * @param prompt The prompt text.
 * @param messages The prompt as a conversation, when the data has one.
 * @returns Token ids.
 */
export function encodeQuery(
  tokenizer: Tokenizer,
  prompt: string,
  messages?: ReadonlyArray<ChatMessage>,
): number[] {
  if (tokenizer.applyChatTemplate) {
    const conversation = messages ?? [{ role: "user", content: prompt }];
    return tokenizer.encode(
      tokenizer.applyChatTemplate(conversation, { addGenerationPrompt: true }),
    );
  }
  if (messages) return encodePrompt(tokenizer, messages.map((m) => m.content).join("\n"));
  return encodePrompt(tokenizer, prompt);
}

/** The length of the longest common prefix of two strings. */
function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** Text pieces of a rendered conversation, each supervised or not. */
function conversationPieces(
  tokenizer: Tokenizer,
  messages: ReadonlyArray<SftMessage>,
  where: string,
): Array<{ text: string; train: boolean }> {
  const render = tokenizer.applyChatTemplate;
  if (!render) {
    throw new DataError({
      message:
        `${where} is a conversation but the model has no chat template (tokenizer_config.json chat_template)`,
      file: where,
    });
  }
  const full = render(messages, { addGenerationPrompt: false });
  const pieces: Array<{ text: string; train: boolean }> = [];
  let at = 0;
  messages.forEach((message, i) => {
    const supervised = message.train ?? message.role === "assistant";
    if (!supervised) return;
    const history = messages.slice(0, i);
    const prev = render(history, { addGenerationPrompt: false });
    const before = render(history, { addGenerationPrompt: message.role === "assistant" });
    const through = render(messages.slice(0, i + 1), { addGenerationPrompt: false });
    // The message's tokens start after the generation prompt (where the rendering with it and
    // the rendering through the message part) and end where this rendering and the whole one
    // part (a template may add a separator only between turns).
    const start = Math.max(commonPrefix(before, through), prev.length);
    const end = commonPrefix(through, full);
    if (!through.startsWith(prev) || start < at || end <= start) {
      throw new DataError({
        message:
          `${where}: the chat template does not render message ${i} (${message.role}) as an extension of the messages before it, so its tokens cannot be told apart`,
        file: where,
      });
    }
    if (start > at) pieces.push({ text: full.slice(at, start), train: false });
    pieces.push({ text: full.slice(start, end), train: true });
    at = end;
  });
  if (pieces.length === 0) {
    throw new DataError({
      message: `${where}: the conversation has no supervised message (no assistant turn)`,
      file: where,
    });
  }
  if (at < full.length) pieces.push({ text: full.slice(at), train: false });
  return pieces;
}

/**
 * Tokenizes one SFT example (see the module documentation).
 *
 * @param example The example.
 * @param tokenizer The model's tokenizer.
 * @param where The example's name in errors (e.g. `SFT item 3 of math`).
 * @returns Its ids and supervised positions.
 * @throws DataError for a conversation the model's chat template cannot render.
 */
export function encodeExample(
  example: SftExample,
  tokenizer: Tokenizer,
  where: string,
): EncodedPair {
  const ids: number[] = [];
  const flags: number[] = [];
  let forced: Uint8Array | undefined;
  const push = (piece: ReadonlyArray<number>, train: boolean) => {
    for (const id of piece) {
      ids.push(id);
      flags.push(train ? 1 : 0);
    }
  };
  if (example.messages) {
    for (const piece of conversationPieces(tokenizer, example.messages, where)) {
      push(tokenizer.encode(piece.text), piece.train);
    }
  } else {
    const plain = example.prompt === "" || !tokenizer.applyChatTemplate;
    push(
      plain ? encodePrompt(tokenizer, example.prompt) : encodeQuery(tokenizer, example.prompt),
      false,
    );
    const start = ids.length;
    const response = tokenizer.encode(example.response);
    push([...response, tokenizer.eosId], true);
    if (example.forced) {
      const marks = forcedResponseTokens(tokenizer, example.response, response, example.forced);
      marks.push(example.forced.eos ? 1 : 0);
      forced = new Uint8Array(ids.length);
      marks.forEach((m, i) => (forced![start + i] = m));
    }
  }
  // The first token is never a target (so never a forced one either).
  if (flags.length > 0) flags[0] = 0;
  if (forced !== undefined && forced.length > 0) forced[0] = 0;
  const supervised = Uint8Array.from(flags);
  return forced !== undefined && forced.some((m) => m > 0)
    ? { ids, supervised, forced }
    : { ids, supervised };
}

/**
 * Which tokens of an encoded response lie in the forced character spans. Each token's characters
 * are found by decoding the growing prefix of the response's ids; when decoding all of them does
 * not give back the response (a tokenizer that normalizes text), no token is marked.
 *
 * @param tokenizer The tokenizer.
 * @param text The response text.
 * @param ids Its token ids.
 * @param forced The domain's marks.
 * @returns 1 or 0 per response token.
 */
function forcedResponseTokens(
  tokenizer: Tokenizer,
  text: string,
  ids: ReadonlyArray<number>,
  forced: ForcedTargets,
): number[] {
  const marks = new Array<number>(ids.length).fill(0);
  const spans = forced.spans ?? [];
  if (spans.length === 0 || ids.length === 0 || tokenizer.decode(ids) !== text) return marks;
  const inSpan = new Uint8Array(text.length);
  for (const [from, to] of spans) {
    for (let c = Math.max(0, from); c < Math.min(to, text.length); c++) inSpan[c] = 1;
  }
  let end = 0;
  for (let i = 0; i < ids.length; i++) {
    const start = end;
    end = i === ids.length - 1 ? text.length : tokenizer.decode(ids.slice(0, i + 1)).length;
    let covered = end > start;
    let visible = false;
    for (let c = start; c < end; c++) if (text[c] !== " ") visible = true;
    for (let c = start; c < end && covered; c++) {
      if (inSpan[c] === 0 && (text[c] !== " " || !visible)) covered = false;
    }
    marks[i] = covered ? 1 : 0;
  }
  return marks;
}

/**
 * Tokenizes SFT examples; one longer than the context is a DataError naming the set and item.
 *
 * @param examples The examples.
 * @param tokenizer The model's tokenizer.
 * @param contextLength The model's context.
 * @param source The domain (named in errors).
 * @returns The encoded examples.
 */
export function encodePairs(
  examples: ReadonlyArray<SftExample>,
  tokenizer: Tokenizer,
  contextLength: number,
  source: string,
): EncodedPair[] {
  return examples.map((example, i) => {
    const where = `SFT item ${i} of ${source}`;
    const pair = encodeExample(example, tokenizer, where);
    // One more token than the context is fine: inputs and targets are both ids.length − 1 long.
    if (pair.ids.length - 1 > contextLength) {
      throw new DataError({
        message: `${where} is ${
          pair.ids.length - 1
        } tokens long, longer than the model's context of ${contextLength}`,
        file: source,
      });
    }
    return pair;
  });
}

/**
 * The share of target positions that are supervised, over a set of encoded examples.
 *
 * @param pairs The encoded examples.
 * @returns Supervised targets / all targets (0 for no targets).
 */
export function supervisedShare(pairs: ReadonlyArray<EncodedPair>): number {
  let supervised = 0;
  let all = 0;
  for (const pair of pairs) {
    all += Math.max(pair.ids.length - 1, 0);
    for (let t = 1; t < pair.supervised.length; t++) supervised += pair.supervised[t]!;
  }
  return all === 0 ? 0 : supervised / all;
}

/**
 * Builds one batch: inputs `ids[:-1]`, targets `ids[1:]`, mask on the supervised targets,
 * padding with `padId` and mask 0.
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
      // The target at t is token t + 1.
      mask[row * time + t] = pair.supervised[t + 1]!;
    }
  });
  return { batch, time, inputs, targets, mask };
}
