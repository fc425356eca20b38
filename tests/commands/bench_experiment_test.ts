// `deno task bench --experiment --vs-torch` as a user runs it, on the toy preset shrunk to a few
// steps: the export is written, the experiment and the PyTorch twin both run (the twin's part is
// skipped, with a message, only where python3 has no torch), and the printed table holds both
// orderings and the agreement line.
import assert from "node:assert/strict";
import { assertOneLineError, runTask } from "./_run.ts";
import { tinyToy } from "../bench/_tiny_toy.ts";

Deno.test("deno task bench --experiment --vs-torch: both runs timed, orderings side by side", async () => {
  const out = await Deno.makeTempDir({ prefix: "probsft-bench-experiment-" });
  try {
    const r = await runTask([
      "bench",
      "--experiment",
      "--vs-torch",
      "--preset",
      "toy",
      "--jobs",
      "1",
      "--out",
      out,
      ...tinyToy,
    ]);
    assert.equal(r.code, 0, `exit ${r.code}; stderr:\n${r.stderr.slice(-3000)}`);
    assert.match(r.stdout, /^probsft: deno task experiment --preset toy: [\d.]+ s wall, 10 cells/m);
    const results = JSON.parse(await Deno.readTextFile(`${out}/probsft/results.json`)) as {
      cells: unknown[];
    };
    assert.equal(results.cells.length, 10);
    const skipped = r.stdout.match(/^PyTorch twin skipped: (.*)$/m);
    if (skipped) {
      assert.match(skipped[1]!, /torch is not available|could not be started/);
      console.log(`python3 torch is missing: the twin's part is skipped (${skipped[1]})`);
      return;
    }
    const manifest = JSON.parse(await Deno.readTextFile(`${out}/twin-data/manifest.json`)) as {
      format: string;
      cells: Array<{ key: string }>;
    };
    assert.equal(manifest.format, "probsft-twin/1");
    assert.equal(manifest.cells.length, 10);
    for (const cell of manifest.cells) {
      const twin = JSON.parse(await Deno.readTextFile(`${out}/torch/cells/${cell.key}.json`)) as {
        completions: Record<string, number[][]>;
      };
      assert.ok(Object.keys(twin.completions).length >= 1, `${cell.key}: completions`);
    }
    assert.match(r.stdout, /^PyTorch [\w.+]+ twin \(1 thread\(s\), one process\): [\d.]+ s wall/m);
    assert.match(r.stdout, /^probsft \/ PyTorch wall time: [\d.]+$/m);
    assert.match(r.stdout, /^\| group \| metric \| objective \| probsft \| PyTorch \|$/m);
    // Both orderings, per group, with the verdict.
    const primary = [
      ...r.stdout.matchAll(
        /^(math|cipher) \/ [\w-]+, [\w@/-]+ \(primary\): probsft (.+); PyTorch (.+): (agree|same winner, order differs|DISAGREE)$/gm,
      ),
    ];
    assert.equal(primary.length, 2, r.stdout);
    assert.match(primary[0]![2]!, /neg-log-prob/);
    assert.match(primary[0]![3]!, /neg-log-prob/);
    assert.match(
      r.stdout,
      /^orderings agree on the primary metric in \d of 2 groups \(same winner in \d of 2\); on every metric in \d+ of \d+$/m,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("deno task bench: the experiment flags are refused without --experiment, in one line", async () => {
  assertOneLineError(
    await runTask(["bench", "--preset", "toy"]),
    /bench: --preset applies to --experiment only/,
  );
  assertOneLineError(
    await runTask(["bench", "--experiment", "--torch-threads", "0"]),
    /bench: --torch-threads must be a whole number of at least 1, got 0/,
  );
});
