// Cells per minute of a small sweep with 1, 2 and 3 runners on one machine, against a local run:
// `deno run -A tests/cluster/_throughput.ts postgres://…/postgres [runners…]` (the URL's server
// must allow CREATE DATABASE). The time counts from submission to the last result, with the
// runners already started and the pretrained-backbone cache warm. PROBSFT_THROUGHPUT_PRESET names
// a preset file to sweep instead of the small built-in one (e.g. presets/toy.json).
import { Effect } from "effect";
import { SqlClient } from "effect/sql";
import { pgLayer } from "../../cluster/layers.ts";
import { tinyPreset } from "../_presets.ts";

const admin = Deno.args[0];
if (admin === undefined) throw new Error("Give the PostgreSQL URL");
const counts = Deno.args.length > 1 ? Deno.args.slice(1).map(Number) : [1, 2, 3];
const preset = tinyPreset("cluster-throughput", {
  seeds: [0, 1, 2, 3],
  objectives: [{ id: "neg-log-prob" }, { id: "neg-prob" }, {
    id: "thresholded-neg-log-prob",
    params: { tau: 0.2 },
  }],
  steps: 60,
  checkpointEvery: 8,
  testItems: 16,
  dModel: 32,
  nLayers: 2,
  dMlp: 64,
});

function sql(url: string, text: string) {
  return Effect.runPromise(
    Effect.gen(function* () {
      return yield* (yield* SqlClient.SqlClient).unsafe(text);
    }).pipe(Effect.provide(pgLayer(url))) as Effect.Effect<unknown>,
  );
}

async function run(args: string[], script = "tests/cluster/_cli.ts"): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return (performance.now() - started) / 1000;
}

const dir = await Deno.makeTempDir({ prefix: "probsft-throughput-" });
const presetPath = `${dir}/preset.json`;
const chosen = Deno.env.get("PROBSFT_THROUGHPUT_PRESET");
await Deno.writeTextFile(
  presetPath,
  chosen ? await Deno.readTextFile(chosen) : JSON.stringify(preset),
);
// Warm the pretrained-backbone cache and the module cache once.
await run(
  ["experiment", "--preset", presetPath, "--out", `${dir}/warm`, "--cache", `${dir}/cache`],
  "main.ts",
);
const local = await run(
  ["experiment", "--preset", presetPath, "--out", `${dir}/local`, "--cache", `${dir}/cache`],
  "main.ts",
);
const cells = (JSON.parse(await Deno.readTextFile(`${dir}/local/results.json`)) as {
  cells: unknown[];
}).cells.length;
console.log(
  `local: ${cells} cells in ${local.toFixed(1)} s, ${(cells / local * 60).toFixed(1)}/min`,
);
for (const n of counts) {
  const database = `probsft_throughput_${n}_${Deno.pid}`;
  await sql(admin, `CREATE DATABASE ${database}`);
  const url = admin.replace(/\/[^/?]*(\?|$)/, `/${database}$1`);
  const port = 37000 + Math.floor(Math.random() * 10000);
  const runners = Array.from({ length: n }, (_, i) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tests/cluster/_cli.ts", "runner", "--cluster", url, "--host"]
        .concat(["127.0.0.1", "--port", String(port + i), "--cache", `${dir}/cache`]),
      stdout: "null",
      stderr: "null",
    }).spawn());
  await new Promise((r) => setTimeout(r, 8000));
  const seconds = await run([
    "experiment",
    "--cluster",
    url,
    "--preset",
    presetPath,
    "--out",
    `${dir}/cluster-${n}`,
  ]);
  console.log(
    `${n} runner(s): ${cells} cells in ${seconds.toFixed(1)} s, ${
      (cells / seconds * 60).toFixed(1)
    }/min`,
  );
  for (const r of runners) {
    r.kill("SIGTERM");
    await r.status;
  }
  await sql(admin, `DROP DATABASE ${database} WITH (FORCE)`);
}
await Deno.remove(dir, { recursive: true });
