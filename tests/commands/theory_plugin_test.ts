// `deno task theory --plugin FILE` as a plugin author runs it: a 12-line objective written to a
// temp file is checked, the checks that need a closed form it does not declare are skipped by
// name, its W_f is plotted beside the built-ins', and a wrong closed form fails.
import assert from "node:assert/strict";
import { assertOneLineError, okJson, runTask } from "./_run.ts";

/** 2(1 − √p): the general family at α = ½, doubled (W = √p(1 − p)); it declares no W_f. */
const plugin = (lossAt: string) =>
  `import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
export default {
  name: "sqrt-prob-plugin",
  objectives: [{
    id: "sqrt-prob",
    summary: "2(1 - sqrt p)",
    params: Schema.Struct({}),
    lossAt: ${lossAt},
    perToken: (view) => ({ loss: tf.mul(2, tf.sub(1, tf.exp(tf.mul(0.5, view.logProbTarget)))) }),
  }],
};
`;

interface Report {
  readonly objectives: ReadonlyArray<{ id: string; plugin: string; params: unknown }>;
  readonly checks: ReadonlyArray<
    { name: string; figures: string; pass: boolean; skipped?: string }
  >;
  readonly passed: boolean;
  readonly skipped: ReadonlyArray<string>;
}

Deno.test("deno task theory --plugin: a plugin's objective is checked and plotted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probsft-theory-plugin-" });
  try {
    const file = `${dir}/sqrt_prob.ts`;
    await Deno.writeTextFile(file, plugin("(p) => 2 * (1 - Math.sqrt(p))"));
    assert.equal((await Deno.readTextFile(file)).trim().split("\n").length, 12);
    const plot = `${dir}/wf.svg`;
    const report = okJson<Report>(
      await runTask(["theory", "--plugin", file, "--json", "--plot", plot]),
    );
    assert.deepEqual(report.objectives, [{
      id: "sqrt-prob",
      plugin: "sqrt-prob-plugin",
      params: {},
    }]);
    assert.equal(report.passed, true);
    const byName = (start: string) => {
      const check = report.checks.find((c) => c.name.startsWith(start));
      assert.ok(check, `no check "${start}" in ${report.checks.map((c) => c.name).join("\n")}`);
      assert.match(check.name, /\[sqrt-prob\]$/);
      return check;
    };
    // Checks that need no closed form, or only lossAt, ran and passed.
    for (const start of ["T1 masked and gated-out", "T4 sum", "T1 finite differences"]) {
      const check = byName(start);
      assert.equal(check.skipped, undefined, `${check.name} skipped: ${check.skipped}`);
      assert.equal(check.pass, true, `${check.name}: ${check.figures}`);
    }
    // Checks that need descentWeight (not declared) or the paper's forms are skipped, by name.
    const declared = byName(
      "T1 reduction (3x8 positions, masks, gates; loss unchunked and chunked)",
    );
    assert.equal(declared.skipped, "declares no descentWeight");
    assert.equal(byName("T3 Prop. 3.2").skipped, "declares no descentWeight");
    assert.match(byName("T1 declared closed forms").skipped ?? "", /cover no "sqrt-prob"/);
    assert.ok(report.skipped.length >= 3 && report.skipped.includes(declared.name));
    // The equivalence detector recognises the general family at alpha = 1/2.
    assert.match(byName("T2 equivalence").figures, /general-family \{alpha: 0\.5\}/);
    // W_f, measured by autodiff, drawn beside the built-ins'.
    const svg = await Deno.readTextFile(plot);
    for (const legend of ["-log p", "(1-p^10)/10", "sqrt-prob (measured)"]) {
      assert.ok(svg.includes(`>${legend}</text>`), `legend lacks ${legend}`);
    }

    const text = await runTask(["theory", "--plugin", file]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^skip {2}T3 Prop\. 3\.2.*\[sqrt-prob\]: declares no descentWeight$/m,
    );
    const ran = report.checks.length - report.skipped.length;
    assert.match(
      text.stdout,
      new RegExp(`${ran} of ${ran} checks passed, ${report.skipped.length} skipped`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task theory --plugin: a wrong closed form fails; an unknown id is one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probsft-theory-plugin-" });
  try {
    const file = `${dir}/sqrt_prob.ts`;
    // lossAt without the factor 2 of its perToken.
    await Deno.writeTextFile(file, plugin("(p) => 1 - Math.sqrt(p)"));
    const result = await runTask(["theory", "--plugin", file, "--objective", "sqrt-prob"]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^FAIL {2}T1 finite differences.*\[sqrt-prob\]/m);
    assertOneLineError(result, /theory check\(s\) failed: T1 finite differences/);

    assertOneLineError(
      await runTask(["theory", "--plugin", file, "--objective", "nope"]),
      /Unknown objective id "nope"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
