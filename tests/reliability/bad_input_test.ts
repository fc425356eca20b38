// Bad input at every door gives one line that says what is wrong and where, and exit status 1,
// never a stack trace: config (in-process through main()), data and model files (through the
// runner: the affected cells fail with the message, as `deno task experiment` prints it), and
// plugin modules. Counts per class are in the test names (the README reliability table).
import { Effect } from "effect";
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import type { ExperimentConfig } from "../../core/config.ts";
import { makeRegistry } from "../../core/registry.ts";
import { runExperiment } from "../../core/runner.ts";
import { useBackend } from "../../core/backend/mod.ts";
import { builtins } from "../../plugins/builtins.ts";

await Effect.runPromise(useBackend("wasm"));
const dir = await Deno.makeTempDir();

async function cli(...args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const error = console.error;
  console.error = (...parts: unknown[]) => lines.push(parts.map(String).join(" "));
  try {
    return { code: await main(args), lines };
  } finally {
    console.error = error;
  }
}

function assertOneLine(result: { code: number; lines: string[] }, pattern: RegExp): void {
  assert.equal(result.code, 1, result.lines.join("\n"));
  assert.equal(result.lines.length, 1, result.lines.join("\n"));
  assert.match(result.lines[0]!, /^error: [^\n]+$/);
  assert.match(result.lines[0]!, pattern);
}

const valid = {
  name: "bad-input",
  backend: "wasm",
  seeds: [0],
  baseline: false,
  objectives: [{ id: "neg-log-prob" }],
  train: { batchSize: 2, steps: 2 },
  evaluation: { maxItems: 2 },
  domains: [{
    id: "math",
    params: { sftExamples: 8, testItems: 2, samples: 1, corpusDocuments: 4 },
    backbones: [{ id: "transformer", params: { dModel: 8, nLayers: 1, nHeads: 1, dMlp: 16 } }],
  }],
};

// [what, preset text or value, overrides, expected message]
const configCases: Array<[string, unknown, string[], RegExp]> = [
  ["not JSON", "{ seeds: [0], ", [], /preset\.json is not valid JSON/],
  ["empty file", "", [], /is not valid JSON/],
  ["wrong type", valid, ["seeds=zero"], /seeds: expected .*got "zero"/],
  ["wrong nested type", valid, ['train.batchSize="8"'], /train\.batchSize: expected .*got "8"/],
  ["unknown key", valid, ["bogus=1"], /unknown key bogus/],
  ["unknown nested key", valid, ["train.stepz=3"], /unknown key train\.stepz/],
  [
    "unknown objective",
    valid,
    ["objectives.0.id=nope"],
    /Unknown objective id "nope".*known objective ids: .*neg-prob/,
  ],
  [
    "unknown backbone",
    valid,
    ["domains.0.backbones.0.id=gpt9"],
    /Unknown backbone id "gpt9".*known backbone ids: .*transformer/,
  ],
  [
    "unknown domain",
    valid,
    ["domains.0.id=chemistry"],
    /Unknown domain id "chemistry".*known domain ids: .*math/,
  ],
  [
    "unknown params key",
    valid,
    ["objectives.0.params.alpha=1"],
    /objective "neg-log-prob".*unknown key params\.alpha/,
  ],
  [
    "alpha <= 0",
    valid,
    ["objectives.0.id=general-family", "objectives.0.params.alpha=-1"],
    /general-family.*params\.alpha: .*got -1/,
  ],
  [
    "alpha = 0",
    valid,
    ["objectives.0.id=general-family", "objectives.0.params.alpha=0"],
    /params\.alpha: .*got 0/,
  ],
  [
    "tau > 1",
    valid,
    ["objectives.0.id=thresholded-neg-prob", "objectives.0.params.tau=1.5"],
    /thresholded-neg-prob.*params\.tau.*1\.5/,
  ],
  [
    "tau < 0",
    valid,
    ["objectives.0.id=thresholded-neg-prob", "objectives.0.params.tau=-0.1"],
    /params\.tau.*-0\.1/,
  ],
  [
    "negative steps",
    valid,
    ["train.steps=-3"],
    /train\.steps: expected a value greater than 0, got -3/,
  ],
  [
    "batch size 0",
    valid,
    ["train.batchSize=0"],
    /train\.batchSize: expected a value greater than 0, got 0/,
  ],
  ["learning rate 0", valid, ["train.learningRate=0"], /train\.learningRate: .*got 0/],
  ["maxSkippedShare > 1", valid, ["train.maxSkippedShare=2"], /train\.maxSkippedShare: .*got 2/],
  ["no objectives", valid, ["objectives=[]"], /objectives: .*got \[\]/],
  ["bad backbone size", valid, ["domains.0.backbones.0.params.dModel=-8"], /dModel.*-8/],
  ["bad override", valid, ["train.steps"], /Bad override "train\.steps": expected path=value/],
  ["override past an array", valid, ["objectives.5.id=x"], /index 5 is out of range/],
  ["missing preset", undefined, [], /Cannot read preset file/],
  ["unknown preset name", "name:no-such-preset", [], /Unknown preset "no-such-preset"/],
];

Deno.test(`config: ${configCases.length} bad presets and overrides give one line and exit 1`, async () => {
  for (const [what, preset, overrides, pattern] of configCases) {
    let spec: string;
    if (typeof preset === "string" && preset.startsWith("name:")) spec = preset.slice(5);
    else if (preset === undefined) spec = `${dir}/missing.json`;
    else {
      spec = `${dir}/preset.json`;
      await Deno.writeTextFile(spec, typeof preset === "string" ? preset : JSON.stringify(preset));
    }
    const result = await cli(
      "experiment",
      "--preset",
      spec,
      "--out",
      `${dir}/out-${what}`,
      ...overrides,
    );
    try {
      assertOneLine(result, pattern);
    } catch (error) {
      throw new Error(`${what}: ${(error as Error).message}`);
    }
  }
});

const pluginDir = `${dir}/plugins`;
await Deno.mkdir(pluginDir);
await Deno.writeTextFile(`${pluginDir}/throws.ts`, `throw new Error("broken at import");\n`);
await Deno.writeTextFile(`${pluginDir}/empty.ts`, `export const nothing = 1;\n`);
await Deno.writeTextFile(`${pluginDir}/noparts.ts`, `export default { name: "empty-plugin" };\n`);
await Deno.writeTextFile(
  `${pluginDir}/nohook.ts`,
  `export default { name: "half", objectives: [{ id: "x", summary: "x", params: {} }] };\n`,
);
await Deno.writeTextFile(`${pluginDir}/syntax.ts`, `export default {{;\n`);

const pluginCases: Array<[string, RegExp]> = [
  [`${pluginDir}/throws.ts`, /throws\.ts: importing it threw .*broken at import/],
  [`${pluginDir}/empty.ts`, /empty\.ts: it exports no plugin/],
  [`${pluginDir}/noparts.ts`, /"empty-plugin".*contributes no objectives/],
  [`${pluginDir}/nohook.ts`, /"half".*objectives\[0\] \("x"\) has no `perToken` function/],
  [`${pluginDir}/syntax.ts`, /syntax\.ts: importing it threw/],
  [`${pluginDir}/missing.ts`, /missing\.ts: the file does not exist/],
];

Deno.test(`plugins: ${pluginCases.length} unusable plugin modules are named in one line`, async () => {
  for (const [spec, pattern] of pluginCases) {
    assertOneLine(await cli("list", "--plugin", spec), pattern);
  }
});

// ---------------------------------------------------------------------------------------------
// Data and model files: the affected cells fail with the message; the run reports them.

const registry = Effect.runSync(makeRegistry([builtins]));
const fixture = new URL("../fixtures/hf/gpt2/", import.meta.url).pathname;

async function failures(config: ExperimentConfig): Promise<string[]> {
  const out = await Deno.makeTempDir({ dir });
  const results = await Effect.runPromise(
    runExperiment({
      config,
      source: "test",
      out,
      cacheDir: out,
      registry,
      progress: { cell() {}, step() {}, log() {} },
    }),
  );
  return results.failures.map((f) => f.message);
}

function jsonlPreset(
  format: string,
  train: string,
  test: string,
  model = fixture,
): ExperimentConfig {
  return {
    name: "bad-data",
    seeds: [0],
    baseline: false,
    objectives: [{ id: "neg-log-prob" }],
    train: { batchSize: 2, steps: 1 },
    evaluation: { maxItems: 1 },
    domains: [{
      id: "jsonl",
      params: { format, train, test, maxNewTokens: 2 },
      backbones: [{ id: "hf", params: { path: model } }],
    }],
  };
}

const choice = (answer: string) =>
  JSON.stringify({ question: "Which?", options: ["a", "b", "c", "d"], answer });
const pair = JSON.stringify({ prompt: "a b", response: "c" });
const files: Record<string, string> = {
  "empty.jsonl": "",
  "blank.jsonl": "\n\n  \n",
  "malformed.jsonl": `${pair}\n${pair}\n{"prompt": "x", "response": \n`,
  "not-object.jsonl": `${pair}\n[1, 2]\n`,
  "choice-bad.jsonl": `${choice("A")}\n${choice("E")}\n`,
  "choice-ok.jsonl": `${choice("B")}\n`,
  "pairs.jsonl": `${pair}\n`,
  "pairs-test.jsonl": JSON.stringify({ prompt: "d e", response: "f" }) + "\n",
  "long.jsonl": JSON.stringify({ prompt: "word ".repeat(40), response: "c" }) + "\n",
  "array.json": `{"prompt": "x"}`,
};
for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${name}`, text);
const f = (name: string) => `${dir}/${name}`;

const dataCases: Array<[string, ExperimentConfig, RegExp]> = [
  [
    "empty file",
    jsonlPreset("pairs", f("empty.jsonl"), f("pairs.jsonl")),
    /empty\.jsonl: the file is empty/,
  ],
  [
    "blank lines only",
    jsonlPreset("pairs", f("blank.jsonl"), f("pairs.jsonl")),
    /blank\.jsonl: the file is empty/,
  ],
  [
    "missing file",
    jsonlPreset("pairs", f("none.jsonl"), f("pairs.jsonl")),
    /Cannot read data file .*none\.jsonl: no such file/,
  ],
  [
    "malformed line",
    jsonlPreset("pairs", f("malformed.jsonl"), f("pairs.jsonl")),
    /malformed\.jsonl line 3: not valid JSON/,
  ],
  [
    "line not an object",
    jsonlPreset("pairs", f("not-object.jsonl"), f("pairs.jsonl")),
    /not-object\.jsonl line 2: expected a JSON object/,
  ],
  [
    "answer not among options",
    jsonlPreset("choice", f("choice-bad.jsonl"), f("choice-ok.jsonl")),
    /choice-bad\.jsonl line 2: answer "E" is not among the options A\/B\/C\/D/,
  ],
  [
    "JSON file not an array",
    jsonlPreset("pairs", f("array.json"), f("pairs.jsonl")),
    /array\.json: expected a JSON array/,
  ],
  [
    "prompt longer than the context",
    jsonlPreset("pairs", f("long.jsonl"), f("pairs.jsonl")),
    /SFT item 0 of domain "jsonl" is \d+ tokens long, longer than the model's context of 16/,
  ],
];

Deno.test(`data: ${dataCases.length} bad data files fail their cells with file and line`, async () => {
  for (const [what, config, pattern] of dataCases) {
    const messages = await failures(config);
    assert.equal(messages.length, 1, `${what}: ${messages}`);
    assert.match(messages[0]!, pattern, what);
    assert.ok(!messages[0]!.includes("\n"), what);
  }
});

// Broken copies of the GPT-2 fixture.
async function brokenModel(name: string, change: (files: Map<string, Uint8Array>) => void) {
  const target = `${dir}/models/${name}`;
  await Deno.mkdir(target, { recursive: true });
  const contents = new Map<string, Uint8Array>();
  for (const entry of Deno.readDirSync(fixture)) {
    contents.set(entry.name, await Deno.readFile(`${fixture}${entry.name}`));
  }
  change(contents);
  for (const [file, bytes] of contents) await Deno.writeFile(`${target}/${file}`, bytes);
  return target;
}

function editHeader(
  files: Map<string, Uint8Array>,
  edit: (
    header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>,
  ) => void,
) {
  const bytes = files.get("model.safetensors")!;
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + bytes.length - 8 - length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes.subarray(8 + length), 8 + json.length);
  files.set("model.safetensors", out);
}

const sameShapePair = (header: Record<string, { shape: number[]; data_offsets: number[] }>) => {
  const names = Object.keys(header).filter((n) => n !== "__metadata__");
  for (const a of names) {
    for (const b of names) {
      if (a !== b && JSON.stringify(header[a]!.shape) === JSON.stringify(header[b]!.shape)) {
        return [a, b] as const;
      }
    }
  }
  throw new Error("no two tensors of one shape");
};

const modelCases: Array<[string, (files: Map<string, Uint8Array>) => void, RegExp]> = [
  ["no config.json", (m) => m.delete("config.json"), /No config\.json in model directory/],
  ["no weights", (m) => m.delete("model.safetensors"), /model\.safetensors/],
  [
    "random bytes",
    (m) => m.set("model.safetensors", Uint8Array.from({ length: 300 }, (_, i) => (i * 7919) % 251)),
    /Cannot read .*model\.safetensors: header length \d+ exceeds/,
  ],
  [
    "truncated",
    (m) =>
      m.set(
        "model.safetensors",
        m.get("model.safetensors")!.subarray(0, m.get("model.safetensors")!.length - 100),
      ),
    /model\.safetensors: tensor .* fall outside the \d+ data bytes/,
  ],
  ["header length past the end", (m) => {
    const bytes = m.get("model.safetensors")!.slice();
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
    m.set("model.safetensors", bytes);
  }, /header length \d+ exceeds the \d+ bytes after it/],
  ["overlapping offsets", (m) =>
    editHeader(m, (h) => {
      const [a, b] = sameShapePair(h);
      h[b]!.data_offsets = [...h[a]!.data_offsets];
    }), /model\.safetensors: tensors .* overlap/],
  ["unknown dtype", (m) =>
    editHeader(m, (h) => {
      h[Object.keys(h).find((n) => n !== "__metadata__")!]!.dtype = "Q4";
    }), /unknown dtype "Q4"/],
  [
    "tokenizer.json does not parse",
    (m) => m.set("tokenizer.json", new TextEncoder().encode("{ not json")),
    /tokenizer\.json/,
  ],
  ["config/weight shape mismatch", (m) => {
    const config = JSON.parse(new TextDecoder().decode(m.get("config.json")!));
    config.n_inner = 64;
    m.set("config.json", new TextEncoder().encode(JSON.stringify(config)));
  }, /shape/],
];

Deno.test(`models: ${modelCases.length} missing, corrupted or mismatched model files fail their cells, naming the file`, async () => {
  for (const [what, change, pattern] of modelCases) {
    const model = await brokenModel(what.replace(/\W+/g, "-"), change);
    const messages = await failures(
      jsonlPreset("pairs", f("pairs.jsonl"), f("pairs-test.jsonl"), model),
    );
    assert.equal(messages.length, 1, `${what}: ${messages}`);
    assert.match(messages[0]!, pattern, `${what}: ${messages[0]}`);
    assert.ok(!messages[0]!.includes("\n"), what);
  }
});

Deno.test("the experiment command prints a failing cell's message and ends with one error line", async () => {
  const presetPath = `${dir}/data-preset.json`;
  await Deno.writeTextFile(
    presetPath,
    JSON.stringify(jsonlPreset("pairs", f("malformed.jsonl"), f("pairs.jsonl"))),
  );
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "experiment", "--preset", presetPath, "--out", `${dir}/cli`],
    stdout: "null",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 1, stderr);
  assert.ok(!stderr.includes("    at "), "no stack trace");
  assert.match(stderr, /failed: Cannot load .*malformed\.jsonl line 3: not valid JSON/);
  assert.match(stderr.trim().split("\n").at(-1)!, /^error: 1 cell\(s\) failed; see /);
});

Deno.test("bad input: cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
