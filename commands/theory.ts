/**
 * `deno task theory [--json] [--plot PATH] [--backend NAME]`: runs the paper's theorem tests
 * (T1–T7) on the built-in objectives and prints one line per check (name, figures, pass/fail);
 * exits non-zero if any fails. `--plot` writes the normalized W_f curves (the paper's Fig. 3).
 *
 * @module
 */
import { Effect } from "effect";
import { PluginError } from "../core/errors.ts";
import { useBackend } from "../core/backend/mod.ts";
import { descentWeightPlot, runTheoryChecks } from "../objectives/theory_checks.ts";
import { type Command, parseFlags } from "./flags.ts";

/** The theory command. */
export const theoryCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("theory", args, {
      json: { type: "boolean" },
      plot: { type: "string" },
      backend: { type: "string" },
    });
    yield* useBackend(values.backend ?? "cpu");
    const checks = yield* Effect.promise(() => runTheoryChecks());
    if (values.plot) {
      const path = values.plot;
      yield* Effect.promise(() => Promise.resolve(descentWeightPlot(path)));
    }
    if (values.json) {
      console.log(JSON.stringify({ checks, passed: checks.every((c) => c.pass) }, null, 2));
    } else {
      for (const check of checks) {
        console.log(`${check.pass ? "pass" : "FAIL"}  ${check.name}: ${check.figures}`);
      }
      const failed = checks.filter((c) => !c.pass).length;
      console.log(`${checks.length - failed} of ${checks.length} checks passed`);
      if (values.plot) console.log(`W_f plot written to ${values.plot}`);
    }
    const failed = checks.filter((c) => !c.pass);
    if (failed.length > 0) {
      return yield* new PluginError({
        message: `${failed.length} theory check(s) failed: ${failed.map((c) => c.name).join(", ")}`,
        plugin: "theory",
      });
    }
  });
