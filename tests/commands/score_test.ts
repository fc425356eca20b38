// `deno task score` as a user runs it: completions produced elsewhere graded with probsft's
// graders (avg@k), and bad input refused with one line naming the file, line, field and value.
import assert from "node:assert/strict";
import { assertOneLineError, okJson, runTask } from "./_run.ts";

const dir = await Deno.makeTempDir({ prefix: "probsft-score-" });
const write = (name: string, lines: ReadonlyArray<unknown>) => {
  const path = `${dir}/${name}`;
  Deno.writeTextFileSync(path, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  return path;
};
const math = write("math.jsonl", [
  { problem: "What is 1/2 + 1/4?", answer: "\\frac{3}{4}", unique_id: "a" },
  { problem: "Solve x + 1 = 3.", answer: "2", unique_id: "b" },
]);
const choice = write("choice.jsonl", [
  { question: "Fever and rash?", options: ["flu", "measles", "cold", "mumps"], answer: "B" },
]);

Deno.test("deno task score: math completions by id, k = 2, avg@k", async () => {
  const completions = write("math_completions.jsonl", [
    { id: "b", completions: ["so x = \\boxed{2}", "x = 3"] },
    { id: "a", completions: ["The answer is 0.75.", "\\boxed{\\dfrac{3}{4}}"] },
  ]);
  const report = okJson<{ benchmark: string; items: number; samples: number; avgAtK: number }>(
    await runTask([
      "score",
      "--data",
      math,
      "--completions",
      completions,
      "--format",
      "math",
      "--json",
    ]),
  );
  assert.equal(report.benchmark, "math-answer");
  assert.equal(report.items, 2);
  assert.equal(report.samples, 2);
  assert.equal(report.avgAtK, 0.75);
  const text = await runTask([
    "score",
    "--data",
    math,
    "--completions",
    completions,
    "--format",
    "math",
  ]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /avg@2: 0\.7500/);
});

Deno.test("deno task score: multiple choice by line order", async () => {
  const completions = write("choice_completions.jsonl", [{ completion: "the answer is b" }]);
  const report = okJson<{ benchmark: string; firstSample: number }>(
    await runTask(["score", "--data", choice, "--completions", completions, "--json"]),
  );
  assert.equal(report.benchmark, "multiple-choice");
  assert.equal(report.firstSample, 1);
});

Deno.test("deno task score: bad input ends with one line naming file, line, field, value", async () => {
  const bad = `${dir}/bad.jsonl`;
  Deno.writeTextFileSync(bad, '{"completion": "x"}\n\n{"completion": 5}\n');
  assertOneLineError(
    await runTask(["score", "--data", math, "--completions", bad, "--format", "math"]),
    /bad\.jsonl line 3: field "completion" must be a string, got 5/,
  );
  const index = write("index.jsonl", [{ index: 7, completion: "x" }, { completion: "y" }]);
  assertOneLineError(
    await runTask(["score", "--data", math, "--completions", index, "--format", "math"]),
    /index\.jsonl line 1: field "index" is past the 2 records/,
  );
  const uneven = write("uneven.jsonl", [{ completions: ["a", "b"] }, { completion: "c" }]);
  assertOneLineError(
    await runTask(["score", "--data", math, "--completions", uneven, "--format", "math"]),
    /uneven\.jsonl line 2: every item needs the same number of completions \(2\), got 1/,
  );
  const short = write("short.jsonl", [{ completion: "x" }]);
  assertOneLineError(
    await runTask(["score", "--data", math, "--completions", short, "--format", "math"]),
    /record 1 of .*math\.jsonl \(0-based\) has no completion/,
  );
  assertOneLineError(await runTask(["score", "--data", math]), /needs --data FILE/);
});

Deno.test("deno task grader-agreement: the table by kind, at least 95% agreement", async () => {
  const report = okJson<{ cases: number; agree: number; rows: unknown[] }>(
    await runTask(["grader-agreement", "--json"]),
  );
  assert.ok(report.cases >= 200 && report.agree / report.cases >= 0.95, JSON.stringify(report));
  const text = await runTask(["grader-agreement"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^\| grader \| kind \| cases \| agree \| % \|/);
  assert.ok(!text.stdout.includes("unexplained"), text.stdout);
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
