import assert from "node:assert/strict";

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function assertOneLineError(result: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^error: /);
  assert.match(lines[0]!, pattern);
  assert.ok(!result.stderr.includes("    at "), "no stack trace");
}

Deno.test("deno task list prints the registered parts, and the example plugin's with --plugin", async () => {
  const plain = await run("list");
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^KIND\s+ID\s+PLUGIN\s+SUMMARY/);
  assert.match(plain.stdout, /objective\s+neg-log-prob\s+probsft/);
  assert.ok(!plain.stdout.includes("tsallis-log"));
  const withPlugin = await run("list", "--plugin", "plugins/examples/tsallis_log.ts");
  assert.equal(withPlugin.code, 0, withPlugin.stderr);
  assert.match(withPlugin.stdout, /objective\s+tsallis-log\s+example-tsallis/);
});

Deno.test("bad command lines give one-line errors and exit 1", async () => {
  assertOneLineError(
    await run("list", "--plugin", "no/such/plugin.ts"),
    /no\/such\/plugin\.ts.*does not exist/,
  );
  assertOneLineError(
    await run("list", "--plugin", "plugins/examples/bad_no_export.ts"),
    /exports no plugin/,
  );
  assertOneLineError(
    await run(
      "list",
      "--plugin",
      "plugins/examples/tsallis_log.ts",
      "--plugin",
      "plugins/examples/tsallis_log.ts",
    ),
    /Duplicate objective id "tsallis-log"/,
  );
  assertOneLineError(await run("list", "--bogus"), /Unknown option '--bogus'/);
  assertOneLineError(await run("nonsense"), /Unknown command "nonsense"/);
});

Deno.test("deno task probe places an unpretrained backbone at the model-weak end", async () => {
  assertOneLineError(await run("probe", "--backbend", "x"), /Unknown option '--backbend'/);
  const probe = await run(
    "probe",
    "--backbone",
    '{"id":"transformer","params":{"dModel":16,"nLayers":1,"nHeads":2,"dMlp":32}}',
    "--domain",
    '{"id":"math","params":{"sftExamples":64,"testItems":8,"corpusDocuments":16}}',
    "--json",
  );
  assert.equal(probe.code, 0, probe.stderr);
  const figures = JSON.parse(probe.stdout) as { meanP: number; regime: string };
  assert.equal(figures.regime, "model-weak");
  assert.ok(figures.meanP < 0.1, `mean p ${figures.meanP}`);
});

Deno.test("an unknown tensor backend is a one-line error listing the known ones", async () => {
  assertOneLineError(
    await run("theory", "--backend", "nope"),
    /Unknown backend "nope"; known backends: wasm, cpu-blas, cpu, webgpu, tensorflow/,
  );
});
