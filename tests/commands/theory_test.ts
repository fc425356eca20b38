// `deno task theory` as a user runs it: every theorem check passes, and the W_f plot is written.
import assert from "node:assert/strict";
import { okJson, runTask } from "./_run.ts";

Deno.test("deno task theory --json: all checks pass and --plot writes an SVG", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probsft-theory-" });
  try {
    const plot = `${dir}/wf.svg`;
    const report = okJson<{
      passed: boolean;
      checks: Array<{ name: string; pass: boolean; figures: string }>;
    }>(await runTask(["theory", "--json", "--plot", plot]));
    assert.equal(report.passed, true);
    assert.ok(report.checks.length >= 7, `${report.checks.length} checks`);
    for (const check of report.checks) {
      assert.equal(check.pass, true, `${check.name}: ${check.figures}`);
      assert.ok(check.name.length > 0 && typeof check.figures === "string");
    }
    // T1–T7 are all there.
    const names = report.checks.map((c) => c.name).join("\n");
    for (let t = 1; t <= 7; t++) assert.match(names, new RegExp(`T${t}\\b`), `T${t} present`);
    const svg = await Deno.readTextFile(plot);
    assert.match(svg, /<svg[\s\S]*<\/svg>\s*$/);

    const text = await runTask(["theory"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`${report.checks.length} of ${report.checks.length} checks passed`),
    );
    assert.ok(!/^FAIL/m.test(text.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
