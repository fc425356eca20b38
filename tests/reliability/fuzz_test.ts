// Property-based fuzzing of the input parsers with a fixed seed: every case parses or fails with
// the parser's typed one-line error; nothing else is thrown, no case hangs, memory stays bounded.
// `deno task fuzz` runs the same targets with more cases.
import assert from "node:assert/strict";
import { fuzz, fuzzTargets, makeGen } from "../../commands/fuzz.ts";

const casesPerTarget = 3000;

Deno.test("makeGen() gives the same inputs for the same seed", () => {
  const a = makeGen(7);
  const b = makeGen(7);
  for (let i = 0; i < 50; i++) assert.deepEqual(a.json(3), b.json(3));
  assert.notDeepEqual(makeGen(8).text(40), makeGen(7).text(40));
});

for (const target of fuzzTargets) {
  Deno.test(`fuzz: ${target.name} (${casesPerTarget} seeded cases) never crashes or hangs`, async () => {
    const report = await fuzz(target, casesPerTarget, 1, 2000);
    assert.deepEqual(report.crashes, [], `crashes of ${target.name}`);
    assert.equal(report.accepted + report.rejected, casesPerTarget);
    assert.ok(report.rssGrowthMiB < 256, `resident set grew ${report.rssGrowthMiB} MiB`);
    if (target.typedError !== "(none: always returns)") {
      // The generator reaches both sides: some inputs parse, most are refused.
      assert.ok(report.accepted > 0 && report.rejected > 0, JSON.stringify(report));
    }
  });
}
