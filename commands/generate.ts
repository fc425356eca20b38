/**
 * `deno task generate --model DIR (--prompt TEXT | --token-ids 1,2,3) [--max-tokens N]
 * [--temperature T] [--top-p P] [--seed S] [--stop TEXT] [--chat] [--backend NAME] [--json]`:
 * loads a Hugging Face model directory and prints a completion. The prompt is encoded as
 * transformers' `tokenizer(prompt)` does (its special prefix, e.g. BOS for Llama); with `--chat`
 * it is one user turn rendered by the model's chat template with the generation prompt.
 * `--temperature 0` (the default) is greedy. Generation stops at every end-of-sequence id of the
 * model. With `--json` it prints `{ "tokenIds": [...], "text": "...", "logprobs": [...] }`.
 *
 * @module
 */
import { Effect } from "effect";
import { parseArgs } from "node:util";
import { ConfigError, type UserError } from "../core/errors.ts";
import { encodePrompt, encodeQuery } from "../core/sft_batches.ts";
import { defaultBackend, useBackend } from "../core/backend/mod.ts";
import { loadHf } from "../backbones/hf.ts";

/** The usage line of the command. */
export const generateUsage: string =
  "usage: deno task generate --model DIR (--prompt TEXT | --token-ids 1,2,3) [--max-tokens N] [--temperature T] [--top-p P] [--seed S] [--stop TEXT] [--chat] [--backend NAME] [--json]";

function configError(message: string, where: string): ConfigError {
  return new ConfigError({ message: `${message} (${where}); ${generateUsage}`, where });
}

function number(
  value: string | undefined,
  flag: string,
  fallback: number,
  check: (x: number) => boolean,
  rule: string,
): Effect.Effect<number, ConfigError> {
  if (value === undefined) return Effect.succeed(fallback);
  const x = Number(value);
  return value.trim() !== "" && Number.isFinite(x) && check(x)
    ? Effect.succeed(x)
    : Effect.fail(configError(`${flag} must be ${rule}, got ${JSON.stringify(value)}`, flag));
}

/**
 * Runs the `generate` command.
 *
 * @param args The command-line arguments after `generate`.
 * @returns Nothing; prints the completion (text, or JSON with `--json`).
 */
export function generateCommand(args: ReadonlyArray<string>): Effect.Effect<void, UserError> {
  return Effect.gen(function* () {
    const parsed = yield* Effect.try({
      try: () =>
        parseArgs({
          args: [...args],
          options: {
            model: { type: "string" },
            prompt: { type: "string" },
            "token-ids": { type: "string" },
            "max-tokens": { type: "string" },
            temperature: { type: "string" },
            "top-p": { type: "string" },
            seed: { type: "string" },
            stop: { type: "string", multiple: true },
            backend: { type: "string" },
            chat: { type: "boolean", default: false },
            json: { type: "boolean", default: false },
          },
          allowPositionals: false,
          strict: true,
        }),
      catch: (error) =>
        configError(String((error as Error).message).split("\n")[0]!, "command line"),
    });
    const v = parsed.values;
    if (v.model === undefined) return yield* configError("--model is required", "--model");
    if ((v.prompt === undefined) === (v["token-ids"] === undefined)) {
      return yield* configError("give exactly one of --prompt and --token-ids", "--prompt");
    }
    const maxNewTokens = yield* number(
      v["max-tokens"],
      "--max-tokens",
      32,
      (x) => Number.isInteger(x) && x >= 0,
      "an integer >= 0",
    );
    const temperature = yield* number(v.temperature, "--temperature", 0, (x) => x >= 0, ">= 0");
    const topP = yield* number(v["top-p"], "--top-p", 1, (x) => x > 0 && x <= 1, "in (0, 1]");
    const seed = yield* number(v.seed, "--seed", 0, Number.isInteger, "an integer");
    let ids: number[] = [];
    if (v["token-ids"] !== undefined) {
      const parts = v["token-ids"].split(",").map((s) => s.trim());
      const bad = parts.find((s) => !/^\d+$/.test(s));
      if (bad !== undefined) {
        return yield* configError(
          `--token-ids must be comma-separated integers >= 0, got ${JSON.stringify(bad)}`,
          "--token-ids",
        );
      }
      ids = parts.map(Number);
    }
    yield* useBackend(v.backend ?? defaultBackend);
    const model = yield* loadHf(v.model);
    try {
      if (v.prompt !== undefined && v.chat) {
        if (!model.tokenizer.applyChatTemplate) {
          return yield* configError(`${v.model} has no chat template`, "--chat");
        }
        ids = encodeQuery(model.tokenizer, v.prompt);
      } else if (v.prompt !== undefined) ids = encodePrompt(model.tokenizer, v.prompt);
      const bad = ids.findIndex((id) => id >= model.vocabSize);
      if (bad >= 0) {
        return yield* configError(
          `token id ${
            ids[bad]
          } at position ${bad} is outside the vocabulary of ${model.vocabSize} ids`,
          "--token-ids",
        );
      }
      if (ids.length === 0) {
        return yield* configError("the prompt encodes to no tokens", "--prompt");
      }
      const [generation] = yield* Effect.tryPromise({
        try: () =>
          model.generate([ids], {
            maxNewTokens,
            temperature,
            topP,
            seed,
            ...(v.stop ? { stop: v.stop } : {}),
          }),
        catch: (error) => configError((error as Error).message, "generate"),
      });
      const out = generation!;
      console.log(
        v.json
          ? JSON.stringify({ tokenIds: out.tokenIds, text: out.text, logprobs: out.logprobs })
          : out.text,
      );
    } finally {
      model.dispose();
    }
  });
}
