/**
 * Chat templates as transformers renders them: the Jinja source of `tokenizer_config.json`'s
 * `chat_template` (a string, or a list of `{ name, template }` of which `default` is used) or of
 * `chat_template.jinja`, rendered by `@huggingface/jinja` (the engine transformers.js uses) with
 * the variables `apply_chat_template` passes: `messages`, `add_generation_prompt`, the special
 * tokens as strings (`bos_token`, `eos_token`, `unk_token`, `pad_token`); `raise_exception` is
 * the engine's own.
 *
 * @module
 */
import { Template } from "@huggingface/jinja";
import { DataError } from "../core/errors.ts";
import type { ChatMessage } from "../core/plugin.ts";

const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim();

/**
 * The template source of a `chat_template` value, or undefined when there is none.
 *
 * @param value The `chat_template` field of `tokenizer_config.json` (string, list or absent).
 * @param file The file, for messages.
 * @returns The Jinja source.
 * @throws DataError when the value has another shape or a list has no `default` entry.
 */
export function chatTemplateSource(value: unknown, file: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const entry = value.find((e) => (e as { name?: unknown })?.name === "default") as
      | { template?: unknown }
      | undefined;
    if (typeof entry?.template === "string") return entry.template;
    throw new DataError({
      message: `${file} field chat_template is a list without a "default" template (names: ${
        value.map((e) => JSON.stringify((e as { name?: unknown })?.name ?? null)).join(", ")
      })`,
      file,
    });
  }
  throw new DataError({
    message: `${file} field chat_template must be a string or a list of {name, template}, got ${
      JSON.stringify(value).slice(0, 60)
    }`,
    file,
  });
}

/** A parsed chat template. */
export class ChatTemplate {
  readonly #template: Template;
  readonly #specials: Readonly<Record<string, string>>;
  readonly #file: string;

  /**
   * @param source The Jinja source.
   * @param specials The special tokens by variable name (`bos_token` → `"<s>"`, …).
   * @param file Where the template comes from, for messages.
   * @throws DataError when the source does not parse.
   */
  constructor(source: string, specials: Readonly<Record<string, string>>, file: string) {
    this.#file = file;
    this.#specials = specials;
    try {
      this.#template = new Template(source);
    } catch (error) {
      throw new DataError({
        message: `${file} chat_template does not parse: ${oneLine(String(error))}`,
        file,
      });
    }
  }

  /**
   * Renders a conversation (`apply_chat_template(messages, tokenize=False, …)`).
   *
   * @param messages The conversation.
   * @param options `addGenerationPrompt` opens an assistant turn at the end.
   * @returns The text (encode it without adding special tokens).
   * @throws DataError when the template raises (e.g. roles out of order) or fails.
   */
  render(
    messages: ReadonlyArray<ChatMessage>,
    options: { readonly addGenerationPrompt: boolean },
  ): string {
    try {
      return this.#template.render({
        ...this.#specials,
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: options.addGenerationPrompt,
      });
    } catch (error) {
      throw new DataError({
        message: `${this.#file} chat_template failed on a conversation of ${messages.length} ${
          messages.length === 1 ? "message" : "messages"
        } (roles ${messages.map((m) => m.role).join(", ")}): ${
          oneLine(String((error as Error).message ?? error))
        }`,
        file: this.#file,
      });
    }
  }
}
