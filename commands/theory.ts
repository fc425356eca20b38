/**
 * `deno task theory [--plugin SPEC]… [--objective ID|JSON]… [--json] [--plot PATH] [--backend B]`:
 * runs the paper's theorem tests and prints one line per check (name, figures, pass/FAIL/skip);
 * exits non-zero if any fails. `--plot` writes the normalized W_f curves (the paper's Fig. 3).
 *
 * - Without `--plugin` or `--objective`: T1–T7 on the built-in objectives.
 * - With `--plugin SPEC`: the per-objective checks on every objective the plugin contributes (or
 *   on the ones `--objective` names, as an id or `{"id": …, "params": {…}}`), whose W_f the plot
 *   draws beside the built-ins'. A check that needs a closed form the objective does not declare
 *   (`lossAt`, `descentWeight`, `keptAt`) is reported as skipped, with what it needs.
 *
 * @module
 */
import { Effect } from "effect";
import { PluginError } from "../core/errors.ts";
import { useBackend } from "../core/backend/mod.ts";
import type { Objective } from "../core/plugin.ts";
import type { TheoryCheck } from "../core/theory.ts";
import { builtins } from "../plugins/builtins.ts";
import {
  descentWeightPlot,
  objectiveTheoryChecks,
  type PlotCurve,
  runTheoryChecks,
} from "../objectives/theory_checks.ts";
import { type Command, parseFlags } from "./flags.ts";
import { parsePartSpec } from "./part_spec.ts";
import { registryWith } from "./registry_with.ts";

/** An objective chosen on the command line, with its decoded params. */
interface _Checked {
  readonly id: string;
  readonly plugin: string;
  readonly params: unknown;
  readonly label: string;
  readonly objective: Objective<unknown>;
}

function _label(id: string, params: unknown): string {
  const text = JSON.stringify(params ?? {});
  return text === "{}" ? id : `${id} ${text}`;
}

/** The objectives `--plugin` and `--objective` name, with params decoded by their Schemas. */
function _chosen(
  plugins: ReadonlyArray<string>,
  specs: ReadonlyArray<string>,
) {
  return Effect.gen(function* () {
    const registry = yield* registryWith(plugins);
    const choices = specs.length > 0
      ? yield* Effect.forEach(specs, (spec) => parsePartSpec("objective", spec))
      : registry.list()
        .filter((row) => row.kind === "objective" && row.plugin !== builtins.name)
        .map((row) => ({ id: row.id }));
    if (choices.length === 0) {
      return yield* new PluginError({
        message: `Cannot run the theory checks: plugin ${
          plugins.join(", ")
        } contributes no objectives (name one with --objective)`,
        plugin: plugins.join(", "),
      });
    }
    return yield* Effect.forEach(
      choices,
      (choice) =>
        Effect.map(registry.objective(choice, "--objective"), (resolved): _Checked => ({
          id: choice.id,
          plugin: resolved.plugin,
          params: resolved.params,
          label: _label(choice.id, resolved.params),
          objective: resolved.part,
        })),
    );
  });
}

function _print(checks: ReadonlyArray<TheoryCheck>, plot: string | undefined): void {
  for (const check of checks) {
    const verdict = check.skipped !== undefined ? "skip" : check.pass ? "pass" : "FAIL";
    console.log(`${verdict}  ${check.name}: ${check.figures}`);
  }
  const ran = checks.filter((c) => c.skipped === undefined);
  const failed = ran.filter((c) => !c.pass).length;
  const skipped = checks.length - ran.length;
  console.log(
    `${ran.length - failed} of ${ran.length} checks passed` +
      (skipped > 0 ? `, ${skipped} skipped (each says what it needs)` : ""),
  );
  if (plot) console.log(`W_f plot written to ${plot}`);
}

/** The theory command. */
export const theoryCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("theory", args, {
      json: { type: "boolean" },
      plot: { type: "string" },
      backend: { type: "string" },
      plugin: { type: "string", multiple: true },
      objective: { type: "string", multiple: true },
    });
    yield* useBackend(values.backend ?? "cpu");
    const plugins = values.plugin ?? [];
    const specs = values.objective ?? [];
    const chosen = plugins.length > 0 || specs.length > 0 ? yield* _chosen(plugins, specs) : [];
    const checks: TheoryCheck[] = [];
    if (chosen.length === 0) {
      checks.push(...yield* Effect.promise(() => runTheoryChecks()));
    } else {
      for (const c of chosen) {
        checks.push(
          ...yield* Effect.promise(() => objectiveTheoryChecks(c.label, c.objective, c.params)),
        );
      }
    }
    if (values.plot) {
      const path = values.plot;
      const extra: PlotCurve[] = chosen.map((c) => ({
        label: c.label,
        objective: c.objective,
        params: c.params,
      }));
      yield* Effect.sync(() => descentWeightPlot(path, extra));
    }
    if (values.json) {
      console.log(JSON.stringify(
        {
          objectives: chosen.map(({ id, plugin, params }) => ({ id, plugin, params })),
          checks,
          passed: checks.every((c) => c.pass),
          skipped: checks.filter((c) => c.skipped !== undefined).map((c) => c.name),
        },
        null,
        2,
      ));
    } else {
      _print(checks, values.plot);
    }
    const failed = checks.filter((c) => !c.pass);
    if (failed.length > 0) {
      return yield* new PluginError({
        message: `${failed.length} theory check(s) failed: ${failed.map((c) => c.name).join(", ")}`,
        plugin: chosen.length > 0 ? [...new Set(chosen.map((c) => c.plugin))].join(", ") : "theory",
      });
    }
  });
