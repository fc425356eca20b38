/**
 * `deno task sft --model DIR --data FILE --out DIR [--objective SPEC] [--format F] [--eval FILE]
 * [--steps N] [--batch-size N] [--micro-batch N] [--recompute] [--lr X] [--seed S]
 * [--no-chat-template] [--backend NAME] [--plugin SPEC]…`: fine-tunes one Hugging Face model
 * on one data file with one objective (the `trl sft` of probsft) and writes `OUT/model/` (a
 * Hugging Face folder transformers loads), `OUT/metrics.jsonl`, `OUT/results.json` and
 * `OUT/report.md`. Without `--backend` the backend follows the model's size (config.json): wasm
 * while it fits the wasm heap, else cpu-blas, said in one line.
 *
 * It is a one-cell experiment (the `jsonl` domain, the `hf` backbone, `saveModels` on), so it
 * resumes after an interruption, probes the base model (mean target p, the continuum position)
 * and, with `--eval`, scores the test file before and after.
 *
 * @module
 */
import { Effect } from "effect";
import { decodeExperiment } from "../core/config.ts";
import { ConfigError } from "../core/errors.ts";
import { writeReport } from "../core/report.ts";
import { runExperiment } from "../core/runner.ts";
import { useBackend, useBackendFor } from "../core/backend/mod.ts";
import { readHfConfig } from "../backbones/hf.ts";
import { footprintOfConfig } from "../backbones/parts.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";
import { parsePartSpec } from "./part_spec.ts";
import { consoleProgress } from "./progress.ts";
import { registryWith } from "./registry_with.ts";

/** The usage line of the command. */
export const sftUsage: string =
  "usage: deno task sft --model DIR --data FILE --out DIR [--objective SPEC] [--format F] [--eval FILE] [--steps N] [--batch-size N] [--micro-batch N] [--recompute] [--lr X] [--seed S] [--no-chat-template] [--backend NAME] [--plugin SPEC]";

function missing(flag: string): ConfigError {
  return new ConfigError({ message: `sft: ${flag} is required; ${sftUsage}`, where: flag });
}

/** The sft command. */
export const sftCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values, positionals } = yield* parseFlags("sft", args, {
      model: { type: "string" },
      data: { type: "string" },
      out: { type: "string" },
      objective: { type: "string" },
      format: { type: "string" },
      eval: { type: "string" },
      steps: { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      seed: { type: "string" },
      "no-chat-template": { type: "boolean" },
      "micro-batch": { type: "string" },
      recompute: { type: "boolean" },
      backend: { type: "string" },
      plugin: { type: "string", multiple: true },
    });
    if (positionals.length > 0) {
      return yield* new ConfigError({
        message: `sft: unexpected argument ${JSON.stringify(positionals[0])}; ${sftUsage}`,
        where: "command line",
      });
    }
    if (values.model === undefined) return yield* missing("--model");
    if (values.data === undefined) return yield* missing("--data");
    if (values.out === undefined) return yield* missing("--out");
    const objective = yield* parsePartSpec("objective", values.objective ?? "neg-log-prob");
    const steps = yield* numberFlag("sft", "steps", values.steps, 0);
    const batchSize = yield* numberFlag("sft", "batch-size", values["batch-size"], 8);
    const learningRate = yield* numberFlag("sft", "lr", values.lr, 1e-5);
    const seed = yield* numberFlag("sft", "seed", values.seed, 0);
    const microBatch = yield* numberFlag("sft", "micro-batch", values["micro-batch"], 0);
    const raw = {
      name: "sft",
      domains: [{
        id: "jsonl",
        label: "data",
        params: {
          train: values.data,
          ...(values.format ? { format: values.format } : {}),
          ...(values.eval ? { test: values.eval } : {}),
        },
      }],
      backbones: [{
        id: "hf",
        label: "model",
        params: { path: values.model, chatTemplate: !values["no-chat-template"] },
      }],
      objectives: [objective],
      seeds: [seed],
      baseline: values.eval !== undefined,
      saveModels: true,
      train: {
        ...(steps > 0 ? { steps } : {}),
        batchSize,
        learningRate,
        checkpointEvery: 50,
        ...(microBatch > 0 ? { microBatchSize: microBatch } : {}),
        ...(values.recompute ? { recompute: true } : {}),
      },
    };
    const source = "sft command line";
    const config = yield* decodeExperiment(raw, source);
    const out = values.out.replace(/\/+$/, "");
    if (values.backend !== undefined) yield* useBackend(values.backend);
    else {
      // By the model's size (config.json alone): wasm while it fits the wasm heap, else cpu-blas.
      const footprint = footprintOfConfig(yield* readHfConfig(values.model));
      const rows = Math.min(microBatch > 0 ? microBatch : batchSize, batchSize);
      const time = Math.min(footprint.contextLength, 1024);
      yield* useBackendFor(
        footprint.parameters,
        footprint.activationBytes!(rows, time, values.recompute === true),
      );
    }
    const registry = yield* registryWith(values.plugin ?? []);
    const progress = consoleProgress("sft");
    progress.log(`sft: ${values.model} on ${values.data} with ${objective.id}, writing to ${out}`);
    const results = yield* runExperiment({
      config,
      source,
      out,
      cacheDir: ".cache/probsft",
      registry,
      progress,
      onCell: (results) => writeReport(out, results, "sft"),
    });
    yield* Effect.promise(() => writeReport(out, results, "sft"));
    const failure = results.failures[0];
    if (failure !== undefined) {
      return yield* new ConfigError({ message: failure.message, where: out });
    }
    const cell = results.cells.find((c) => c.objective.id !== "base")!;
    const model = `${out}/model`;
    const saved = `${out}/models/${cell.key}`;
    const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
    yield* Effect.tryPromise({
      try: async () => {
        // A rerun of a finished run finds the folder already moved into place.
        if (!(await exists(saved)) && (await exists(model))) return;
        await Deno.remove(model, { recursive: true }).catch(() => undefined);
        await Deno.rename(saved, model);
        await Deno.remove(`${out}/models`).catch(() => undefined);
      },
      catch: (error) =>
        new ConfigError({
          message: `Cannot move the fine-tuned model ${saved} to ${model}: ${
            String((error as Error).message).split("\n")[0]
          }`,
          where: out,
        }),
    });
    const p = (x: number) => x.toFixed(3);
    progress.log(
      `sft: base mean p ${p(cell.probe.meanP)} (${cell.probe.regime}), after ${
        p(cell.meanPAfter)
      }; fine-tuned model: ${model}; report: ${out}/report.md`,
    );
  });
