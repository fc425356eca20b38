import "../_setup.ts";
import assert from "node:assert/strict";
import { Effect, Exit, Schema } from "effect";
import { testDomain } from "../../core/testing.ts";
import type { DomainData } from "../../core/plugin.ts";
import { DataError } from "../../core/errors.ts";
import { benchmarks, jsonl, type JsonlParams } from "../../benchmarks/mod.ts";
import { readRecords } from "../../benchmarks/jsonl/read.ts";

const dir = await Deno.makeTempDir({ prefix: "probsft-jsonl-" });
const write = (name: string, lines: ReadonlyArray<unknown> | string): string => {
  const path = `${dir}/${name}`;
  Deno.writeTextFileSync(
    path,
    typeof lines === "string" ? lines : lines.map((l) => JSON.stringify(l)).join("\n") + "\n",
  );
  return path;
};
const decode = (p: unknown): JsonlParams => Schema.decodeUnknownSync(jsonl.params)(p);
const load = (p: unknown): Promise<DomainData> => Effect.runPromise(jsonl.load(decode(p), 0));
const failure = async (p: unknown): Promise<DataError> => {
  const exit = await Effect.runPromiseExit(jsonl.load(decode(p), 0));
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert.ok(reason && reason._tag === "Fail");
  assert.ok(reason.error instanceof DataError);
  assert.ok(!reason.error.message.includes("\n"), "message is not one line");
  return reason.error;
};

/** Scores a completion on the first test item through the registered benchmark of its set. */
function scoreFirst(data: DomainData, completion: string): number {
  const set = data.benchmarks[0]!;
  const benchmark = benchmarks.find((b) => b.id === set.benchmark.id)!;
  const params = Schema.decodeUnknownSync(benchmark.params)(set.benchmark.params ?? {});
  return benchmark.score(set.examples[0]!, completion, params);
}

const mathTrain = write("numina.jsonl", [
  { problem: "What is 2+3?", solution: "2+3=5, so the answer is $\\boxed{5}$." },
  { problem: "Half of 1?", solution: "It is one half.", answer: "\\frac{1}{2}" },
]);
const mathTest = write("math500.jsonl", [
  { problem: "What is $\\frac{1}{4}+\\frac{1}{4}$?", solution: "...", answer: "\\frac{1}{2}" },
  { problem: "Compute 10*100.", solution: "We get $\\boxed{1,000}$." },
]);

Deno.test("jsonl math: a NuminaMath/MATH500 file loads and scores", async () => {
  const params = { format: "math", train: mathTrain, test: mathTest };
  await testDomain(jsonl, { params });
  const data = await load(params);
  assert.equal(data.symbols, undefined);
  assert.equal(data.primary, "test/avg@4");
  assert.ok(data.sft[0]!.prompt.endsWith("put your final answer within \\boxed{}."));
  assert.ok(data.sft[1]!.response.endsWith("\\boxed{\\frac{1}{2}}$."), data.sft[1]!.response);
  assert.equal(data.benchmarks[0]!.examples[1]!.reference, "1000"); // the normal form
  assert.equal(scoreFirst(data, "1/4+1/4 = \\boxed{\\dfrac{1}{2}}"), 1);
  assert.equal(scoreFirst(data, "The answer is 0.5"), 1);
  assert.equal(scoreFirst(data, "The answer is 0.25"), 0);
});

Deno.test("jsonl choice: MedQA list, MedMCQA map/index and PubMedQA text answers", async () => {
  const train = write("medqa_train.jsonl", [
    { question: "Fever and rash?", options: ["flu", "measles", "cold", "mumps"], answer: "B" },
    {
      question: "Swollen parotid?",
      options: { A: "flu", B: "measles", C: "cold", D: "mumps" },
      answer_idx: "D",
      explanation: "Parotitis suggests mumps.",
    },
    { question: "Runny nose?", options: ["flu", "measles", "cold", "mumps"], answer: 2 },
  ]);
  const test = write("pubmedqa.jsonl", [
    {
      context: "A trial.",
      question: "Does X work?",
      options: ["yes", "no", "maybe"],
      answer: "no",
    },
    { question: "Fever, rash, Koplik spots?", options: { A: "measles", B: "flu" }, answer: "(A)" },
  ]);
  const params = { format: "choice", train, test };
  await testDomain(jsonl, { params });
  const data = await load(params);
  assert.equal(data.sft[1]!.response, "Parotitis suggests mumps.\nThe answer is D.");
  assert.ok(data.sft[2]!.response.endsWith("The answer is C."));
  const first = data.benchmarks[0]!.examples[0]!;
  assert.equal(first.reference, "B");
  assert.deepEqual(first.options, ["yes", "no", "maybe"]);
  assert.ok(first.prompt.startsWith("A trial.\nDoes X work?\nA. yes\nB. no\nC. maybe\n"));
  assert.equal(data.benchmarks[0]!.examples[1]!.reference, "A");
  assert.equal(scoreFirst(data, "The answer is (B)"), 1);
  assert.equal(scoreFirst(data, "I would say no"), 1); // the option text
  assert.equal(scoreFirst(data, "The answer is A"), 0);
});

Deno.test("jsonl pairs: prompt/response and instruction/input/output", async () => {
  const train = write(
    "alpaca.json",
    JSON.stringify([
      { instruction: "Translate", input: "bonjour", output: "hello" },
      { prompt: "Capital of France?", response: "Paris" },
    ]),
  );
  const test = write("qa.jsonl", [{ question: "Capital of Italy?", answer: "Rome" }]);
  const params = { format: "pairs", train, test };
  await testDomain(jsonl, { params });
  const data = await load(params);
  assert.equal(data.sft[0]!.prompt, "Translate\n\nbonjour");
  assert.equal(data.primary, "test/greedy");
  assert.equal(scoreFirst(data, "Rome."), 1);
  assert.equal(scoreFirst(data, "Milan"), 0);
});

Deno.test("jsonl: a malformed line fails with the file and the line", async () => {
  const bad = write(
    "bad.jsonl",
    '{"problem": "1+1?", "solution": "\\\\boxed{2}"}\n\n{"problem": \n',
  );
  const error = await failure({ format: "math", train: bad, test: mathTest });
  assert.equal(error.file, bad);
  assert.equal(error.line, 3);
  assert.match(error.message, /bad\.jsonl line 3: not valid JSON/);
  const noField = write("nofield.jsonl", [{ problem: "1+1?", solution: "2" }, { foo: 1 }]);
  const missing = await failure({ format: "math", train: noField, test: mathTest });
  assert.equal(missing.line, 2);
  assert.match(missing.message, /missing "problem" or "question"/);
});

Deno.test("jsonl: skipBad counts and skips malformed lines", async () => {
  const mixed = write("mixed.jsonl", [
    { prompt: "a", response: "b" },
    "not an object",
    { prompt: "c" },
    { prompt: "d", response: "e" },
  ]);
  const read = await Effect.runPromise(
    readRecords(mixed, (r) => (typeof r.prompt === "string" ? { p: r.prompt } : "no prompt"), true),
  );
  assert.equal(read.records.length, 3);
  const test = write("qa2.jsonl", [{ prompt: "z", response: "y" }]);
  const data = await load({ format: "pairs", train: mixed, test, skipBad: true });
  assert.deepEqual(data.sft.map((e) => e.prompt), ["a", "d"]);
  const strict = await failure({ format: "pairs", train: mixed, test: mixed });
  assert.equal(strict.line, 2);
  const counted = await Effect.runPromise(
    readRecords(mixed, (r) => (typeof r.response === "string" ? { r: r.response } : "no"), true),
  );
  assert.deepEqual(counted.skipped.map((s) => s.line), [2, 3]);
  assert.equal(counted.records.length, 2);
});

Deno.test("jsonl: missing, empty and inconsistent files are one-line DataErrors", async () => {
  const absent = await failure({ format: "math", train: `${dir}/absent.jsonl`, test: mathTest });
  assert.match(absent.message, /Cannot read data file .*absent\.jsonl: no such file/);
  const empty = write("empty.jsonl", "\n  \n");
  assert.match((await failure({ format: "math", train: empty, test: mathTest })).message, /empty/);
  const wrong = write("wrong.jsonl", [{ question: "q", options: ["x", "y"], answer: "C" }]);
  const notAmong = await failure({ format: "choice", train: wrong, test: wrong });
  assert.match(notAmong.message, /wrong\.jsonl line 1: answer "C" is not among the options A\/B/);
  const allBad = await failure({ format: "choice", train: wrong, test: wrong, skipBad: true });
  assert.match(allBad.message, /all 1 records are malformed/);
  const same = await failure({ format: "math", train: mathTest, test: mathTest });
  assert.match(same.message, /every training prompt is also in/);
  assert.throws(() => decode({ format: "csv", train: "a", test: "b" }));
});

Deno.test("jsonl: cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
