import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import { testBackbone } from "../../core/testing.ts";
import { loadHf } from "../../backbones/hf.ts";
import { hfBackbone } from "../../backbones/parts.ts";
import { parseSafetensors } from "../../backbones/safetensors.ts";
import type { Transformer } from "../../backbones/transformer.ts";
import { testContext } from "./_domain.ts";

const fixtures = new URL("../fixtures/hf/", import.meta.url).pathname;

async function load(dir: string): Promise<Transformer> {
  return await Effect.runPromise(loadHf(dir));
}

async function failure(dir: string): Promise<string> {
  const exit = await Effect.runPromiseExit(loadHf(dir));
  assert.ok(Exit.isFailure(exit), `loading ${dir} should fail`);
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert.ok(reason && reason._tag === "Fail");
  const error = reason.error as { _tag: string; message: string };
  assert.equal(error._tag, "CheckpointError");
  assert.ok(!error.message.includes("\n"), "message must be one line");
  return error.message;
}

function logitsOf(model: Transformer, tokens: number[][]): Float32Array {
  return tf.tidy(() =>
    model.logits(tf.tensor2d(tokens, [tokens.length, tokens[0]!.length], "int32"))
      .dataSync() as Float32Array
  );
}

for (const name of ["llama", "qwen2", "gpt2"]) {
  Deno.test(`hf: ${name} fixture gives the logits of the independent NumPy implementation`, async () => {
    const dir = fixtures + name;
    const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected_logits.json`)) as {
      tokens: number[][];
      logits: number[][][];
    };
    const model = await load(dir);
    const got = logitsOf(model, expected.tokens);
    const want = expected.logits.flat(2);
    assert.equal(got.length, want.length);
    let worst = 0;
    want.forEach((w, i) => (worst = Math.max(worst, Math.abs(w - got[i]!))));
    assert.ok(worst < 1e-4, `${name}: max |Δlogit| = ${worst}`);
    model.dispose();
  });

  Deno.test(`hf: ${name} save -> load round-trips bit-exactly in the same layout`, async () => {
    const model = await load(fixtures + name);
    const out = await Deno.makeTempDir();
    await model.save(out);
    const again = await load(out);
    const a = await model.weightValues();
    const b = await again.weightValues();
    assert.deepEqual([...b.keys()], [...a.keys()]);
    for (const [key, value] of a) assert.deepEqual(b.get(key), value, key);
    const tokens = [[1, 5, 6, 7]];
    assert.deepEqual(logitsOf(again, tokens), logitsOf(model, tokens));
    assert.deepEqual(again.eosIds, model.eosIds);
    // Same tensor names and shapes as a transformers checkpoint of the architecture.
    const saved = parseSafetensors(await Deno.readFile(`${out}/model.safetensors`), "saved");
    const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    assert.equal(config.architectures[0], model.config.architecture);
    if (name === "gpt2") {
      assert.deepEqual(saved.tensors.get("transformer.h.0.attn.c_attn.weight")!.shape, [16, 48]);
      assert.equal(config.n_embd, 16);
    } else {
      const q = saved.tensors.get("model.layers.0.self_attn.q_proj.weight")!;
      assert.deepEqual(q.shape, [16, 16]);
      assert.deepEqual(saved.tensors.get("model.layers.0.self_attn.k_proj.weight")!.shape, [
        4 * model.config.nKvHeads,
        16,
      ]);
      assert.equal(config.rope_theta, model.config.ropeTheta);
      assert.equal(config.rope_parameters.rope_theta, model.config.ropeTheta);
      assert.equal(saved.tensors.has("lm_head.weight"), !model.config.tieEmbeddings);
    }
    model.dispose();
    again.dispose();
  });
}

Deno.test("hf: eos id comes from generation_config.json when config.json has none", async () => {
  const model = await load(fixtures + "qwen2");
  assert.deepEqual(model.eosIds, [2]);
  assert.equal(model.config.tieEmbeddings, true);
  assert.equal(model.config.qkvBias, true);
  model.dispose();
});

Deno.test("hf backbone conforms", async () => {
  const dir = await Deno.makeTempDir();
  await testBackbone(hfBackbone, {
    params: { path: fixtures + "llama" },
    context: testContext(dir),
  });
});

async function copyFixture(name: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const entry of Deno.readDirSync(fixtures + name)) {
    await Deno.copyFile(`${fixtures}${name}/${entry.name}`, `${dir}/${entry.name}`);
  }
  return dir;
}

async function editJson(path: string, edit: (json: Record<string, unknown>) => void) {
  const json = JSON.parse(await Deno.readTextFile(path));
  edit(json);
  await Deno.writeTextFile(path, JSON.stringify(json));
}

Deno.test("hf: a directory without config.json is a one-line CheckpointError", async () => {
  const dir = await Deno.makeTempDir();
  assert.match(await failure(dir), /No config\.json in model directory/);
});

Deno.test("hf: an unsupported architecture is named", async () => {
  const dir = await copyFixture("gpt2");
  await editJson(`${dir}/config.json`, (j) => (j.architectures = ["MambaForCausalLM"]));
  assert.match(await failure(dir), /Unsupported architecture "MambaForCausalLM".*config\.json/);
});

Deno.test("hf: a config/weight shape mismatch names the weight and file", async () => {
  const dir = await copyFixture("qwen2");
  await editJson(`${dir}/config.json`, (j) => (j.intermediate_size = 32));
  assert.match(
    await failure(dir),
    /Weight model\.layers\.0\.mlp\.gate_proj\.weight in .*model\.safetensors has shape \[24,16\], but config\.json implies \[32,16\]/,
  );
});

Deno.test("hf: a token id outside the vocabulary names the field", async () => {
  const dir = await copyFixture("llama");
  await editJson(`${dir}/config.json`, (j) => (j.eos_token_id = 99));
  assert.match(await failure(dir), /config\.json field eos_token_id 99 is outside the vocabulary/);
  const dir2 = await copyFixture("llama");
  await editJson(`${dir2}/config.json`, (j) => (j.vocab_size = 10));
  assert.match(
    await failure(dir2),
    /tokenizer\.json has token ids up to 23, outside the vocabulary/,
  );
});

Deno.test("hf: a truncated weight file is a one-line CheckpointError naming it", async () => {
  const dir = await copyFixture("gpt2");
  const bytes = await Deno.readFile(`${dir}/model.safetensors`);
  await Deno.writeFile(`${dir}/model.safetensors`, bytes.subarray(0, bytes.length - 10));
  assert.match(await failure(dir), /Cannot read .*model\.safetensors: tensor .* data_offsets/);
});
