// Property-based fuzzing (fast-check) of the input parsers with a fixed seed: every case parses or
// fails with the parser's typed one-line error; nothing else is thrown, no case hangs, memory
// stays bounded. `deno task fuzz` runs the same targets with more cases.
import fc from "fast-check";
import assert from "node:assert/strict";
import { fuzz, fuzzTable, type FuzzTarget, fuzzTargets } from "../../commands/fuzz.ts";

const casesPerTarget = 3000;

Deno.test("fuzz: the same seed draws the same inputs", () => {
  for (const target of fuzzTargets) {
    const a = fc.sample(target.arbitrary, { seed: 7, numRuns: 20 });
    const b = fc.sample(target.arbitrary, { seed: 7, numRuns: 20 });
    assert.deepEqual(a, b, target.name);
    assert.notDeepEqual(fc.sample(target.arbitrary, { seed: 8, numRuns: 20 }), a, target.name);
  }
});

Deno.test("fuzz: a crash is reported once, with its input shrunk and a replay path", async () => {
  const buggy: FuzzTarget<string> = {
    name: "buggy",
    inputs: "strings",
    typedError: "(none)",
    arbitrary: fc.string({ maxLength: 30 }),
    run: (s) => {
      if (s.includes("x")) throw new Error("found an x");
      return "accepted";
    },
  };
  const report = await fuzz(buggy, 2000, 1);
  assert.equal(report.crashes.length, 1);
  assert.equal(report.crashes[0]!.input, '"x"');
  assert.match(report.crashes[0]!.error, /found an x/);
  assert.match(report.crashes[0]!.path, /^\d+(:\d+)*$/);
  assert.equal(report.cases, report.accepted + 1);
  assert.match(fuzzTable([report]), /\| buggy \| \d+ \| \d+ \| 0 \| 1 \|/);
});

for (const target of fuzzTargets) {
  Deno.test(`fuzz: ${target.name} (${casesPerTarget} seeded cases) never crashes or hangs`, async () => {
    const report = await fuzz(target, casesPerTarget, 1, 2000);
    assert.deepEqual(report.crashes, [], `crashes of ${target.name}`);
    assert.equal(report.accepted + report.rejected, casesPerTarget);
    assert.ok(report.rssGrowthMiB < 256, `resident set grew ${report.rssGrowthMiB} MiB`);
    if (target.typedError !== "(none: always returns)") {
      // The arbitraries reach both sides: some inputs parse, most are refused.
      assert.ok(report.accepted > 0 && report.rejected > 0, JSON.stringify(report));
    }
  });
}
