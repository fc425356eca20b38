/**
 * `deno task grader-agreement [--mode qwen|strict] [--json]`: runs probsft's math reading and
 * equivalence on the published test cases of public graders (tests/fixtures/graders/: Math-Verify's
 * test suite and the Qwen2.5-Math grader's examples) and prints the agreement by grader and kind,
 * then each disagreement with the reason probsft gives the other verdict on purpose
 * (tests/fixtures/graders/deliberate.json), or "unexplained".
 *
 * @module
 */
import { Effect } from "effect";
import { ConfigError } from "../core/errors.ts";
import {
  agreementByKind,
  type ExtractionMode,
  type GraderCase,
  judgeCase,
} from "../benchmarks/mod.ts";
import { type Command, parseFlags } from "./flags.ts";

const fixtures = new URL("../tests/fixtures/graders/", import.meta.url);

function read(name: string): {
  source?: string;
  cases: Array<GraderCase & { reason?: string }>;
} {
  return JSON.parse(Deno.readTextFileSync(new URL(name, fixtures)));
}

/** The grader-agreement command. */
export const graderAgreementCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("grader-agreement", args, {
      mode: { type: "string" },
      json: { type: "boolean" },
    });
    const mode = values.mode ?? "qwen";
    if (mode !== "qwen" && mode !== "strict") {
      return yield* new ConfigError({
        message: `grader-agreement: --mode must be qwen or strict, got ${JSON.stringify(mode)}`,
        where: "command line",
      });
    }
    const cases = [...read("math_verify.json").cases, ...read("qwen25_math.json").cases];
    const reasons = new Map(
      read("deliberate.json").cases.map((
        c,
      ) => [JSON.stringify([c.source, c.test, c.gold, c.prediction, c.expected]), c.reason]),
    );
    const verdicts = cases.map((c) => judgeCase(c, mode as ExtractionMode));
    const rows = agreementByKind(verdicts);
    const agree = verdicts.filter((v) => v.agrees).length;
    const disagreements = verdicts.filter((v) => !v.agrees).map((v) => ({
      source: v.case.source,
      test: v.case.test,
      gold: v.goldAnswer,
      prediction: v.predictedAnswer,
      theirs: v.case.expected,
      ours: v.verdict,
      reason: reasons.get(
        JSON.stringify([
          v.case.source,
          v.case.test,
          v.case.gold,
          v.case.prediction,
          v.case.expected,
        ]),
      ) ?? "unexplained",
    }));
    if (values.json) {
      console.log(
        JSON.stringify({ mode, cases: cases.length, agree, rows, disagreements }, null, 2),
      );
      return;
    }
    console.log(`| grader | kind | cases | agree | % |`);
    console.log(`|---|---|---:|---:|---:|`);
    for (const r of rows) {
      console.log(
        `| ${r.source} | ${r.kind} | ${r.cases} | ${r.agree} | ${
          (100 * r.agree / r.cases).toFixed(0)
        } |`,
      );
    }
    console.log(
      `| all | (extraction mode ${mode}) | ${cases.length} | ${agree} | ${
        (100 * agree / cases.length).toFixed(1)
      } |`,
    );
    for (const d of disagreements) {
      console.log(
        `- ${d.source} ${d.test}: ${JSON.stringify(d.gold)} vs ${JSON.stringify(d.prediction)}: ` +
          `theirs ${d.theirs}, ours ${d.ours}: ${d.reason}`,
      );
    }
  });
