import "../_setup.ts";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import { generateCommand } from "../../commands/generate.ts";

const llama = new URL("../fixtures/hf/llama", import.meta.url).pathname;

async function capture(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...xs: unknown[]) => lines.push(xs.join(" "));
  try {
    await Effect.runPromise(generateCommand(args));
  } finally {
    console.log = log;
  }
  return lines;
}

async function errorOf(args: string[]): Promise<{ _tag: string; message: string }> {
  const exit = await Effect.runPromiseExit(generateCommand(args));
  assert.ok(Exit.isFailure(exit));
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert.ok(reason && reason._tag === "Fail");
  return reason.error as { _tag: string; message: string };
}

Deno.test("generateCommand --json prints token ids, text and logprobs", async () => {
  const [line] = await capture([
    "--model",
    llama,
    "--token-ids",
    "1,5,6",
    "--max-tokens",
    "4",
    "--json",
  ]);
  const out = JSON.parse(line!);
  assert.ok(Array.isArray(out.tokenIds) && out.tokenIds.length <= 4);
  assert.equal(out.logprobs.length, out.tokenIds.length);
  assert.equal(typeof out.text, "string");
  const [again] = await capture(["--model", llama, "--prompt", "1 2", "--max-tokens", "3"]);
  assert.equal(typeof again, "string");
});

Deno.test("generateCommand rejects bad flags with one-line ConfigErrors", async () => {
  assert.match((await errorOf(["--prompt", "x"])).message, /--model is required/);
  assert.match((await errorOf(["--model", llama])).message, /exactly one of --prompt/);
  const bad = await errorOf(["--model", llama, "--token-ids", "1,x"]);
  assert.equal(bad._tag, "ConfigError");
  assert.match(bad.message, /--token-ids must be comma-separated integers >= 0, got "x"/);
  assert.match(
    (await errorOf(["--model", llama, "--token-ids", "1,500"])).message,
    /token id 500 at position 1 is outside the vocabulary of 24 ids/,
  );
  assert.match(
    (await errorOf(["--model", llama, "--prompt", "1", "--temperature=-1"])).message,
    /--temperature must be >= 0, got "-1"/,
  );
  const missing = await errorOf(["--model", "/nonexistent-dir", "--prompt", "1"]);
  assert.equal(missing._tag, "CheckpointError");
});
