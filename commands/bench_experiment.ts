/**
 * `deno task bench --experiment [--preset NAME|PATH] [--vs-torch] [--json] [--jobs N]
 * [--out DIR] [--torch-threads N] [path=value …]`: times the real `deno task experiment` run of a
 * preset (a subprocess, with a fresh pretraining cache in `OUT/cache`), and with `--vs-torch`
 * its PyTorch twin (`bench/torch_experiment.py`, one process) on the examples probsft exports
 * (`bench/twin_export.ts`), graded by probsft's own graders (`bench/twin_grade.ts`). Prints both
 * wall times and their ratio, each group's scores with the orderings of the objectives side by
 * side (`bench/orderings.ts`), and whether they agree.
 *
 * @module
 */
import { Effect } from "effect";
import { ConfigError, OutputError, type UserError } from "../core/errors.ts";
import type { CellResult } from "../core/cell.ts";
import { compareOrderings, type OrderingRow, orderText, type Spread } from "../bench/orderings.ts";
import { exportTwin } from "../bench/twin_export.ts";
import { type GradedCell, gradeTwin } from "../bench/twin_grade.ts";
import { loadPreset } from "./experiment.ts";
import { registryWith } from "./registry_with.ts";
import { peerEnv } from "./_torch_peer.ts";

/** What `bench --experiment` was asked. */
export interface BenchExperimentOptions {
  /** Preset name or path. */
  readonly preset: string;
  /** `path=value` overrides. */
  readonly overrides: ReadonlyArray<string>;
  /** Output folder (default `runs/<time>-bench-experiment-<name>`). */
  readonly out?: string;
  /** `--jobs` of the experiment (default: the experiment's own). */
  readonly jobs?: number;
  /** Run the PyTorch twin. */
  readonly vsTorch: boolean;
  /** Print one JSON object. */
  readonly json: boolean;
  /** torch threads of the twin. @default 1 */
  readonly torchThreads: number;
}

const python = (): string => {
  try {
    Deno.statSync("/usr/bin/python3");
    return "/usr/bin/python3";
  } catch {
    return "python3";
  }
};

/** torch's version, or why the twin cannot run. */
async function torchVersion(): Promise<{ version: string } | { skipped: string }> {
  const exe = python();
  try {
    const out = await new Deno.Command(exe, {
      args: ["-c", "import torch; print(torch.__version__)"],
      env: peerEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code === 0) return { version: new TextDecoder().decode(out.stdout).trim() };
    const err = new TextDecoder().decode(out.stderr).trim().split("\n");
    return { skipped: `torch is not available to ${exe} (${err[err.length - 1] ?? "no output"})` };
  } catch (error) {
    return { skipped: `${exe} could not be started (${(error as Error).message})` };
  }
}

/** Runs a command with its stdout and stderr forwarded to this process's stderr. */
async function runForwarded(
  command: string,
  args: ReadonlyArray<string>,
  env?: Record<string, string>,
): Promise<{ code: number; seconds: number; lastLine: string }> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args: [...args],
    ...(env ? { env, clearEnv: true } : {}),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let lastLine = "";
  const pump = async (stream: ReadableStream<Uint8Array>, keep: boolean) => {
    for await (const chunk of stream) {
      await Deno.stderr.write(chunk);
      if (keep) {
        const lines = (lastLine + new TextDecoder().decode(chunk)).split("\n").filter((l) => l);
        lastLine = lines[lines.length - 1] ?? lastLine;
      }
    }
  };
  await Promise.all([pump(child.stdout, true), pump(child.stderr, false)]);
  const { code } = await child.status;
  return { code, seconds: (performance.now() - started) / 1000, lastLine };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:T]/g, "-").replace(/\..*$/, "");
}

function fmt(s: Spread | undefined): string {
  if (!s) return "–";
  return `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)}`;
}

/** A group's name without the domain's params: `math / pretrained-1000`. */
function short(group: string): string {
  return group.replace(/\([^/]*\) \//, " /");
}

/** The table of scores and orderings, as Markdown lines. */
export function orderingTable(rows: ReadonlyArray<OrderingRow>): string[] {
  const lines = [
    "| group | metric | objective | probsft | PyTorch |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    for (const [label, s] of Object.entries(row.scores)) {
      lines.push(
        `| ${short(row.group)} | ${row.key}${row.primary ? " (primary)" : ""} | ${label} | ${
          fmt(s.probsft)
        } | ${fmt(s.torch)} |`,
      );
    }
  }
  lines.push("");
  for (const row of rows) {
    lines.push(
      `${short(row.group)}, ${row.key}${row.primary ? " (primary)" : ""}: probsft ${
        orderText(row.probsftOrder)
      }; PyTorch ${orderText(row.torchOrder)}: ${
        row.agree ? "agree" : row.winnerAgrees ? "same winner, order differs" : "DISAGREE"
      }`,
    );
  }
  return lines;
}

/**
 * Runs the timed experiment and, with `vsTorch`, its twin; prints the comparison.
 *
 * @param options The flags.
 * @returns An Effect that prints the report.
 */
export function benchExperiment(options: BenchExperimentOptions): Effect.Effect<void, UserError> {
  return Effect.gen(function* () {
    const { config, source } = yield* loadPreset(options.preset, options.overrides);
    const registry = yield* registryWith(config.plugins ?? []);
    const name = config.name ?? options.preset.replace(/^.*\//, "").replace(/\.json$/, "");
    const out = options.out ?? `runs/${timestamp()}-bench-experiment-${name}`;
    const log = (line: string) => console.error(line);
    const loadStart = Deno.loadavg();
    const torch = options.vsTorch
      ? yield* Effect.promise(torchVersion)
      : { skipped: "not requested (--vs-torch)" };
    let exportSeconds: number | undefined;
    if ("version" in torch) {
      const t0 = performance.now();
      const summary = yield* exportTwin(config, source, registry, `${out}/twin-data`);
      exportSeconds = (performance.now() - t0) / 1000;
      log(
        `bench --experiment: exported ${summary.cells} cells for the PyTorch twin to ${summary.dir} (${summary.files} files, ${
          (summary.bytes / 2 ** 20).toFixed(1)
        } MB, ${exportSeconds.toFixed(1)} s)`,
      );
    }
    const main = new URL("../main.ts", import.meta.url).pathname;
    const denoJson = new URL("../deno.json", import.meta.url).pathname;
    log(`bench --experiment: deno task experiment --preset ${options.preset} (timed)`);
    const ours = yield* Effect.promise(() =>
      runForwarded(Deno.execPath(), [
        "run",
        "-A",
        "--config",
        denoJson,
        main,
        "experiment",
        "--preset",
        options.preset,
        "--out",
        `${out}/probsft`,
        "--cache",
        `${out}/cache`,
        ...(options.jobs !== undefined ? ["--jobs", String(options.jobs)] : []),
        ...options.overrides,
      ])
    );
    if (ours.code !== 0) {
      return yield* new ConfigError({
        message:
          `bench --experiment: the experiment failed (exit ${ours.code}); see ${out}/probsft`,
        where: out,
      });
    }
    const results = yield* Effect.tryPromise({
      try: async () =>
        JSON.parse(await Deno.readTextFile(`${out}/probsft/results.json`)) as {
          cells: CellResult[];
        },
      catch: (error) =>
        new OutputError({
          message: `Cannot read ${out}/probsft/results.json: ${(error as Error).message}`,
          file: `${out}/probsft/results.json`,
        }),
    });
    let twin: Record<string, unknown> = torch;
    let graded: GradedCell[] = [];
    if ("version" in torch) {
      const script = new URL("../bench/torch_experiment.py", import.meta.url).pathname;
      log(`bench --experiment: the PyTorch twin, ${options.torchThreads} thread(s) (timed)`);
      const run = yield* Effect.promise(() =>
        runForwarded(python(), [
          script,
          `${out}/twin-data`,
          "--out",
          `${out}/torch`,
          "--threads",
          String(options.torchThreads),
        ], peerEnv())
      );
      if (run.code !== 0) {
        return yield* new ConfigError({
          message: `bench --experiment: the PyTorch twin failed (exit ${run.code})`,
          where: script,
        });
      }
      const summary = yield* Effect.try({
        try: () => JSON.parse(run.lastLine) as Record<string, unknown>,
        catch: () =>
          new ConfigError({
            message:
              `bench --experiment: the PyTorch twin's last line is not JSON: ${run.lastLine}`,
            where: script,
          }),
      });
      graded = yield* gradeTwin(config, source, registry, `${out}/torch`);
      twin = {
        version: torch.version,
        threads: options.torchThreads,
        wallSeconds: run.seconds,
        exportSeconds,
        ...summary,
      };
    }
    const { rows, agreement } = compareOrderings(results.cells, graded);
    const ratio = typeof twin.wallSeconds === "number" ? ours.seconds / twin.wallSeconds : null;
    const report = {
      preset: options.preset,
      overrides: options.overrides,
      out,
      probsft: {
        wallSeconds: ours.seconds,
        jobs: options.jobs ?? null,
        cells: results.cells.length,
      },
      torch: twin,
      ratio,
      orderings: rows,
      agreement: "version" in torch ? agreement : null,
      machine: {
        cores: navigator.hardwareConcurrency,
        loadAverage: { start: loadStart, end: Deno.loadavg() },
      },
    };
    if (options.json) {
      console.log(JSON.stringify(report));
      return;
    }
    console.log(
      `probsft: deno task experiment --preset ${options.preset}: ${
        ours.seconds.toFixed(1)
      } s wall, ${results.cells.length} cells (${out}/probsft)`,
    );
    if (typeof twin.skipped === "string") {
      console.log(`PyTorch twin skipped: ${twin.skipped}`);
    } else {
      console.log(
        `PyTorch ${twin.version} twin (${twin.threads} thread(s), one process): ${
          (twin.wallSeconds as number).toFixed(1)
        } s wall (export ${(exportSeconds ?? 0).toFixed(1)} s, not counted)`,
      );
      console.log(`probsft / PyTorch wall time: ${ratio!.toFixed(2)}`);
    }
    for (const line of orderingTable(rows)) console.log(line);
    if ("version" in torch) {
      console.log(
        `orderings agree on the primary metric in ${agreement.agree} of ${agreement.groups} groups ` +
          `(same winner in ${agreement.winnerAgrees} of ${agreement.groups}); on every metric in ` +
          `${agreement.keysAgree} of ${agreement.keys}`,
      );
    }
    console.log(
      `machine: ${navigator.hardwareConcurrency} cores, load average ${
        loadStart.join(" ")
      } at the start, ${Deno.loadavg().join(" ")} at the end`,
    );
  });
}
