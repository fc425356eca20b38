/**
 * The dataset formats users already have (TRL's text, prompt-completion and conversational
 * formats, Alpaca, ShareGPT), their detection, and the `jsonl` domain on conversational data:
 * SFT examples keep their messages (assistant turns supervised) and test prompts become chat
 * messages that the model's template renders with the generation prompt.
 */
import "../_setup.ts";
import { Effect } from "effect";
import assert from "node:assert/strict";
import { convertRecord, detectFormat } from "../../benchmarks/jsonl/formats.ts";
import { loadJsonl } from "../../benchmarks/jsonl/domain.ts";

Deno.test("TRL formats: text, prompt-completion, messages and conversational prompt-completion", () => {
  assert.deepEqual(convertRecord("text", { text: "a b c" }, true), {
    prompt: "",
    response: "a b c",
    reference: "",
  });
  assert.deepEqual(convertRecord("prompt-completion", { prompt: "1 +", completion: " 2" }, true), {
    prompt: "1 +",
    response: " 2",
    reference: "2",
  });
  const chat = convertRecord("messages", {
    messages: [
      { role: "system", content: "s" },
      { role: "user", content: "q1" },
      { role: "assistant", content: "a1" },
      { role: "user", content: "q2" },
      { role: "assistant", content: "a2" },
    ],
  }, true);
  assert.ok(typeof chat !== "string");
  assert.equal(chat.prompt, "q1");
  assert.equal(chat.response, "a2");
  assert.equal(chat.reference, "a2");
  assert.equal(chat.messages?.length, 5);
  assert.deepEqual(chat.promptMessages?.map((m) => m.role), [
    "system",
    "user",
    "assistant",
    "user",
  ]);
  const pc = convertRecord("messages", {
    prompt: [{ role: "user", content: "q" }],
    completion: [{ role: "assistant", content: "a" }],
  }, true);
  assert.ok(typeof pc !== "string");
  assert.deepEqual(pc.messages?.map((m) => m.train), [false, true]);
  assert.match(
    convertRecord(
      "messages",
      { messages: [{ role: "user", content: [{ type: "text" }] }] },
      true,
    ) as string,
    /messages\[0\]\.content must be a string/,
  );
  assert.match(
    convertRecord("messages", { messages: [{ role: "user", content: "q" }] }, true) as string,
    /no assistant message/,
  );
});

Deno.test("Alpaca and ShareGPT", () => {
  assert.deepEqual(
    convertRecord("alpaca", { instruction: "Add", input: "1 2", output: "3" }, true),
    {
      prompt: "Add\n1 2",
      response: "3",
      reference: "3",
    },
  );
  const history = convertRecord("alpaca", {
    instruction: "again",
    output: "4",
    system: "be brief",
    history: [["first", "1"]],
  }, true);
  assert.ok(typeof history !== "string");
  assert.deepEqual(history.messages?.map((m) => [m.role, m.content]), [
    ["system", "be brief"],
    ["user", "first"],
    ["assistant", "1"],
    ["user", "again"],
    ["assistant", "4"],
  ]);
  const share = convertRecord("sharegpt", {
    system: "sys",
    conversations: [{ from: "human", value: "hi" }, { from: "gpt", value: "hello" }],
  }, true);
  assert.ok(typeof share !== "string");
  assert.deepEqual(share.messages?.map((m) => m.role), ["system", "user", "assistant"]);
  assert.match(
    convertRecord(
      "sharegpt",
      { conversations: [{ from: "function_call", value: "x" }] },
      true,
    ) as string,
    /conversations\[0\]\.from "function_call" is not one of/,
  );
});

Deno.test("format auto: detected from the fields, or a message listing the formats", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ messages: [] }, "messages"],
    [{ prompt: [{ role: "user", content: "q" }], completion: [] }, "messages"],
    [{ conversations: [] }, "sharegpt"],
    [{ text: "t" }, "text"],
    [{ text: "t", id: 7, source: "web" }, "text"],
    [{ instruction: "i", input: "", output: "o" }, "alpaca"],
    [{ prompt: "p", completion: "c" }, "prompt-completion"],
    [{ problem: "p", solution: "s" }, "math"],
    [{ question: "q", options: ["a", "b"], answer: "A" }, "choice"],
    [{ prompt: "p", response: "r" }, "pairs"],
  ];
  for (const [record, format] of cases) assert.equal(detectFormat(record), format);
  assert.match(
    detectFormat({ foo: 1 }) as string,
    /cannot tell the format from the fields \["foo"\]/,
  );
});

Deno.test("jsonl domain on ShareGPT data: conversations kept for SFT, test prompts as messages", async () => {
  const dir = await Deno.makeTempDir();
  const row = (q: string, a: string) =>
    JSON.stringify({ conversations: [{ from: "human", value: q }, { from: "gpt", value: a }] });
  await Deno.writeTextFile(`${dir}/train.jsonl`, [row("1 + 1", "2"), row("1 + 2", "3")].join("\n"));
  await Deno.writeTextFile(`${dir}/test.jsonl`, row("2 + 2", "4") + "\n");
  const data = await Effect.runPromise(
    loadJsonl({
      format: "auto",
      train: `${dir}/train.jsonl`,
      test: `${dir}/test.jsonl`,
      skipBad: false,
      samples: 4,
      maxNewTokens: 8,
    }),
  );
  assert.equal(data.sft.length, 2);
  assert.deepEqual(data.sft[0]!.messages?.map((m) => m.role), ["user", "assistant"]);
  const example = data.benchmarks[0]!.examples[0]!;
  assert.deepEqual(example.messages, [{ role: "user", content: "2 + 2" }]);
  assert.equal(example.reference, "4");
  assert.deepEqual(data.benchmarks[0]!.benchmark, { id: "normalized-match", params: {} });
  // Without a test file the domain only trains; plain text cannot be scored.
  const trainOnly = await Effect.runPromise(
    loadJsonl({
      format: "auto",
      train: `${dir}/train.jsonl`,
      skipBad: false,
      samples: 4,
      maxNewTokens: 8,
    }),
  );
  assert.equal(trainOnly.benchmarks.length, 0);
  await Deno.writeTextFile(`${dir}/text.jsonl`, JSON.stringify({ text: "a b" }) + "\n");
  const text = await Effect.runPromiseExit(
    loadJsonl({
      format: "auto",
      train: `${dir}/text.jsonl`,
      test: `${dir}/test.jsonl`,
      skipBad: false,
      samples: 4,
      maxNewTokens: 8,
    }),
  );
  assert.match(JSON.stringify(text), /plain text \(format text\): it has no answers to score/);
  await Deno.remove(dir, { recursive: true });
});
