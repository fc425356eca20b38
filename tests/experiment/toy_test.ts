// `deno task experiment --preset toy` on a fresh cache: it finishes in about two minutes and its
// own numbers show both ends of the continuum: at the model-strong end (base mean p ≥ 0.7)
// neg-prob and thresholded NLL score above NLL; at the model-weak end (base mean p ≤ 0.1) NLL
// scores above neg-prob. The test reads the run's results.json; nothing in the code under test
// knows which objective should win. A second run killed with SIGKILL mid-cell and rerun with the
// same command ends with the same scores.
import assert from "node:assert/strict";
import { placeOnContinuum } from "../../core/probe.ts";
import { meanStd } from "../../core/report.ts";
import type { ExperimentResults } from "../../core/runner.ts";

function toy(out: string, cache: string): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "experiment", "--preset", "toy", "--out", out, "--cache", cache],
    stdout: "piped",
    stderr: "piped",
  });
}

function listing(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name);
  } catch {
    return [];
  }
}

function scoresOf(results: ExperimentResults): unknown {
  return results.cells.map((c) => [c.key, c.scores, c.meanPAfter, c.probe.meanP]);
}

function primaryOf(results: ExperimentResults, group: string, objective: string): number[] {
  return results.cells
    .filter((c) => `${c.domain} / ${c.backbone.label}` === group && c.objective.id === objective)
    .map((c) => c.primary);
}

Deno.test("--preset toy shows NLL losing at the model-strong end and winning at the weak end", async () => {
  const out = await Deno.makeTempDir();
  const started = performance.now();
  const run = await toy(`${out}/run`, `${out}/cache`).output();
  const seconds = (performance.now() - started) / 1000;
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  console.log(`toy preset: ${seconds.toFixed(0)} s wall on this machine`);
  const results = JSON.parse(
    await Deno.readTextFile(`${out}/run/results.json`),
  ) as ExperimentResults;
  const groups = new Map<string, number>();
  for (const cell of results.cells) {
    groups.set(`${cell.domain} / ${cell.backbone.label}`, cell.probe.meanP);
    // The probe places the pretrained base and the unpretrained one at opposite ends, by its
    // own rule on the targets not marked forced.
    assert.equal(
      cell.probe.regime,
      placeOnContinuum(cell.probe.meanP, cell.probe.shareAbove055).regime,
    );
  }
  const strong = [...groups].filter(([, p]) => p >= 0.7).map(([g]) => g);
  const weak = [...groups].filter(([, p]) => p <= 0.1).map(([g]) => g);
  assert.ok(
    strong.length > 0 && weak.length > 0,
    `groups by base mean p: ${JSON.stringify([...groups])}`,
  );
  for (const group of strong) {
    const nll = meanStd(primaryOf(results, group, "neg-log-prob"));
    for (const id of ["neg-prob", "thresholded-neg-log-prob"]) {
      const other = meanStd(primaryOf(results, group, id));
      console.log(
        `${group}: ${id} ${other.mean.toFixed(3)} ± ${other.std.toFixed(3)} vs NLL ${
          nll.mean.toFixed(3)
        } ± ${nll.std.toFixed(3)}`,
      );
      assert.ok(
        other.mean > nll.mean,
        `${group}: ${id} ${other.mean} should exceed NLL ${nll.mean}`,
      );
    }
  }
  for (const group of weak) {
    const nll = meanStd(primaryOf(results, group, "neg-log-prob"));
    const negProb = meanStd(primaryOf(results, group, "neg-prob"));
    console.log(
      `${group}: NLL ${nll.mean.toFixed(3)} ± ${nll.std.toFixed(3)} vs neg-prob ${
        negProb.mean.toFixed(3)
      } ± ${negProb.std.toFixed(3)}`,
    );
    assert.ok(
      nll.mean > negProb.mean,
      `${group}: NLL ${nll.mean} should exceed neg-prob ${negProb.mean}`,
    );
  }
  assert.ok(seconds < 300, `the toy preset took ${seconds.toFixed(0)} s`);

  // Kill a second run with SIGKILL once a few cells are finished and a running cell has a
  // checkpoint, then run the same command again: it ends with the same numbers.
  const killed = toy(`${out}/killed`, `${out}/cache`).spawn();
  const deadline = Date.now() + 240_000;
  let ready = false;
  while (!ready && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const names = listing(`${out}/killed/cells`);
    ready = names.filter((n) => n.endsWith(".json")).length >= 3 &&
      names.some((n) => n.endsWith(".checkpoint"));
  }
  killed.kill("SIGKILL");
  await killed.output();
  assert.ok(ready, "the second run was killed mid-cell, after a checkpoint");
  const rerun = await toy(`${out}/killed`, `${out}/cache`).output();
  assert.equal(rerun.code, 0, new TextDecoder().decode(rerun.stderr));
  const resumed = JSON.parse(
    await Deno.readTextFile(`${out}/killed/results.json`),
  ) as ExperimentResults;
  assert.deepEqual(scoresOf(resumed), scoresOf(results));
  await Deno.remove(out, { recursive: true });
});
