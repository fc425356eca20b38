/**
 * `deno task sft` as a user runs it: a subprocess on the default backend fine-tunes the tiny
 * Llama fixture on a 20-line conversational JSONL file; the folder it writes is read back by an
 * independent NumPy implementation (tests/fixtures/hf_logits.py) whose logits must match
 * probsft's to 1e-4.
 */
import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import assert from "node:assert/strict";
import { loadHf } from "../../backbones/hf.ts";

const root = new URL("../../", import.meta.url).pathname;
const llama = `${root}tests/fixtures/hf/llama`;

async function run(cmd: string, args: string[]) {
  const out = await new Deno.Command(cmd, { args, cwd: root, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

const sft = (...args: string[]) => run(Deno.execPath(), ["run", "-A", "main.ts", "sft", ...args]);

/** A python3 that has numpy (CI installs Debian's python3-numpy). */
async function python(): Promise<string> {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    const probe = await run(candidate, ["-c", "import numpy"]).catch(() => undefined);
    if (probe?.code === 0) return candidate;
  }
  throw new Error("no python3 with numpy: apt-get install python3-numpy");
}

function conversations(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = i % 10;
    const b = (i * 7 + 3) % 10;
    const sum = String(a + b).split("").join(" ");
    const messages = [
      ...(i % 4 === 0 ? [{ role: "system", content: "a b" }] : []),
      { role: "user", content: `${a} + ${b}` },
      { role: "assistant", content: sum },
    ];
    lines.push(JSON.stringify({ messages }));
  }
  return lines.join("\r\n") + "\r\n";
}

Deno.test("deno task sft fine-tunes the tiny Llama on conversations and writes a folder NumPy reads to 1e-4", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = `${dir}/chat.jsonl`;
    // A byte-order mark and CRLF line ends, as a Windows editor saves the file.
    await Deno.writeTextFile(data, "\uFEFF" + conversations(20));
    const out = `${dir}/run`;
    const args = ["--model", llama, "--data", data, "--out", out, "--objective", "neg-prob"];
    const recipe = ["--steps", "12", "--batch-size", "4", "--lr", "3e-3"];
    const first = await sft(...args, ...recipe);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(first.stdout + first.stderr, /format messages \(detected\)/);
    assert.match(first.stdout + first.stderr, /fine-tuned model: .*\/run\/model/);
    for (const name of ["config.json", "generation_config.json", "model.safetensors"]) {
      assert.ok((await Deno.stat(`${out}/model/${name}`)).isFile, name);
    }
    // Tokenizer files are copied through byte for byte.
    for (const name of ["tokenizer.json", "tokenizer_config.json"]) {
      assert.deepEqual(
        await Deno.readFile(`${out}/model/${name}`),
        await Deno.readFile(`${llama}/${name}`),
        name,
      );
    }
    const steps = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n")
      .map((line) => JSON.parse(line)).filter((m) => m.step !== undefined);
    assert.equal(steps.length, 12);
    assert.ok(steps.every((m) => Number.isFinite(m.loss)));
    assert.ok((await Deno.stat(`${out}/report.md`)).isFile);

    // The saved weights moved away from the base, and NumPy's logits match probsft's.
    const rows = [[1, 5, 14, 6, 15, 9, 17], [1, 23, 22, 4, 4, 16, 2]];
    const tuned = await Effect.runPromise(loadHf(`${out}/model`));
    const base = await Effect.runPromise(loadHf(llama));
    try {
      const ids = tf.tensor2d(rows, [2, 7], "int32");
      const ours = tuned.logits(ids);
      const before = base.logits(ids);
      const moved = tf.max(tf.abs(tf.sub(ours, before))).dataSync()[0]!;
      assert.ok(moved > 1e-3, `weights did not move (${moved})`);
      const py = await run(await python(), [
        "tests/fixtures/hf_logits.py",
        `${out}/model`,
        ...rows.map((r) => r.join(",")),
      ]);
      assert.equal(py.code, 0, py.stderr);
      const reference = tf.tensor3d(JSON.parse(py.stdout).logits);
      const gap = tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0]!;
      console.log(`max |probsft - NumPy| logit on the fine-tuned folder: ${gap}`);
      assert.ok(gap < 1e-4, `NumPy vs probsft logits differ by ${gap}`);
      tf.dispose([ids, ours, before, reference]);
    } finally {
      tuned.dispose();
      base.dispose();
    }

    // A rerun of the finished run trains nothing and keeps the folder.
    const again = await sft(...args, ...recipe);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(!/step \d+\/12/.test(again.stdout), again.stdout);
    assert.ok((await Deno.stat(`${out}/model/model.safetensors`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task sft: bad input is one line naming the flag, file or line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await sft("--data", "x.jsonl", "--out", dir);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr.trim(), /^error: sft: --model is required/);
    const bad = `${dir}/bad.jsonl`;
    await Deno.writeTextFile(bad, '{"messages": [{"role": "user", "content": "1"}]}\n');
    const noAnswer = await sft("--model", llama, "--data", bad, "--out", `${dir}/o`);
    assert.equal(noAnswer.code, 1);
    assert.match(noAnswer.stderr, /bad\.jsonl line 1: the conversation has no assistant message/);
    assert.ok(!noAnswer.stderr.includes("    at "), noAnswer.stderr);
    // A model without a chat template cannot train on conversations: the error says so.
    const chat = `${dir}/chat.jsonl`;
    await Deno.writeTextFile(chat, conversations(4));
    const qwen = await sft(
      "--model",
      `${root}tests/fixtures/hf/qwen2`,
      "--data",
      chat,
      "--out",
      `${dir}/q`,
    );
    assert.equal(qwen.code, 1);
    assert.match(qwen.stderr, /is a conversation but the model has no chat template/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
