// Agreement with the published test cases of public math graders (tests/fixtures/graders/):
// probsft's verdict equals theirs except on the cases listed, with reasons, in deliberate.json.
import assert from "node:assert/strict";
import {
  agreementByKind,
  type GraderCase,
  judgeCase,
  readAnswerText,
} from "../../benchmarks/mod.ts";

const dir = new URL("../fixtures/graders/", import.meta.url);
const read = (name: string) => JSON.parse(Deno.readTextFileSync(new URL(name, dir)));
const cases: GraderCase[] = [
  ...read("math_verify.json").cases,
  ...read("qwen25_math.json").cases,
];
type CaseKey = {
  source: string;
  test: string;
  gold: string;
  prediction: string;
  expected: boolean;
};
const deliberate: CaseKey[] = read("deliberate.json").cases;
const key = (c: CaseKey) => JSON.stringify([c.source, c.test, c.gold, c.prediction, c.expected]);

Deno.test("fixtures name their source and licence", () => {
  for (const name of ["math_verify.json", "qwen25_math.json"]) {
    const fixture = read(name);
    assert.match(fixture.source, /^https:\/\/github\.com\//);
    assert.ok(typeof fixture.licence === "string" && fixture.licence.length > 0);
    assert.ok(fixture.cases.length > 10);
  }
});

Deno.test("graders' cases: probsft agrees except where deliberate.json says why", () => {
  const listed = new Set(deliberate.map(key));
  const verdicts = cases.map((c) => judgeCase(c, "qwen"));
  const unexpected = verdicts.filter((v) => v.agrees === listed.has(key(v.case)));
  assert.deepEqual(
    unexpected.map((v) =>
      `${v.case.test}: ${v.goldAnswer} vs ${v.predictedAnswer} -> ${v.verdict} (${
        listed.has(key(v.case)) ? "listed as deliberate but agrees" : "disagrees"
      })`
    ),
    [],
  );
  const agree = verdicts.filter((v) => v.agrees).length;
  assert.ok(agree / verdicts.length >= 0.95, `${agree} of ${verdicts.length}`);
  const rows = agreementByKind(verdicts);
  assert.equal(rows.reduce((n, r) => n + r.cases, 0), cases.length);
});

Deno.test("readAnswerText(): a bare answer is taken whole, a completion is extracted", () => {
  assert.equal(readAnswerText("$x >= 5$", "qwen"), "x >= 5");
  assert.equal(readAnswerText("10/9", "qwen"), "10/9");
  assert.equal(readAnswerText("The answer is $\\boxed{3}$.", "qwen"), "3");
  assert.equal(readAnswerText("Answer $ 9 $", "qwen"), "9");
});
