/**
 * `deno run -A main.ts cell-worker`: internal; the worker process of a parallel run
 * (`deno task experiment --jobs N`, core/worker_pool.ts). It reads the experiment from its first
 * stdin line, plans the same cells as its parent, then runs the cells its parent names one at a
 * time with the same cell code as the serial runner, answering on stdout in the line protocol of
 * core/_cell_protocol.ts. It exits when its stdin closes (its parent is done or gone), and on
 * Linux the kernel kills it when its parent dies, so a killed run leaves no workers behind.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import {
  decodeLine,
  encodeLine,
  messageMark,
  parentPidVariable,
  readLines,
  toWire,
  type WorkerMessage,
  type WorkerSetup,
} from "../core/_cell_protocol.ts";
import { makeCellRunner } from "../core/cell.ts";
import { decodeExperiment } from "../core/config.ts";
import { ConfigError, isUserError } from "../core/errors.ts";
import { planCells } from "../core/plan.ts";
import { useBackend } from "../core/backend/mod.ts";
import type { Command } from "./flags.ts";
import { registryWith } from "./registry_with.ts";

const encoder = new TextEncoder();

function emit(message: WorkerMessage): void {
  const bytes = encoder.encode(messageMark + encodeLine(message) + "\n");
  let at = 0;
  while (at < bytes.length) at += Deno.stdout.writeSync(bytes.subarray(at));
}

/**
 * Linux: asks the kernel to SIGKILL this process when its parent dies (prctl
 * PR_SET_PDEATHSIG), and exits at once when the parent named by {@link parentPidVariable} is
 * already gone. Elsewhere, or without FFI, the stdin watch alone ends a worker.
 */
function dieWithParent(): void {
  const expected = Number(Deno.env.get(parentPidVariable) ?? NaN);
  if (Deno.build.os !== "linux" || !Number.isInteger(expected)) return;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
      getppid: { parameters: [], result: "i32" },
    });
    libc.symbols.prctl(1, 9n, 0n, 0n, 0n); // PR_SET_PDEATHSIG, SIGKILL
    if (libc.symbols.getppid() !== expected) Deno.exit(0);
  } catch {
    // No FFI permission or no glibc: the stdin watch ends the worker.
  }
}

/** Lines of stdin; the process exits when stdin closes (the parent is done or died). */
function stdinLines(): () => Promise<string> {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  void readLines(Deno.stdin.readable, (line) => {
    queue.push(line);
    wake?.();
  }).finally(() => {
    // Checkpoints and results are written atomically: stopping mid-cell loses only the steps
    // since the last checkpoint.
    Deno.exit(0);
  });
  return async () => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift()!;
  };
}

/** The cell-worker command (internal). */
export const cellWorkerCommand: Command = () =>
  Effect.gen(function* () {
    dieWithParent();
    const nextLine = stdinLines();
    const setup = decodeLine<WorkerSetup>(yield* Effect.promise(nextLine));
    const planned = yield* Effect.exit(Effect.gen(function* () {
      yield* useBackend(setup.backend);
      const registry = yield* registryWith(setup.plugins);
      const config = yield* decodeExperiment(JSON.parse(setup.config) as unknown, setup.source);
      const cells = yield* planCells(config, setup.source, registry);
      return { registry, cells: new Map(cells.map((c) => [c.key, c])) };
    }));
    if (Exit.isFailure(planned)) {
      const error = Cause.squash(planned.cause);
      emit({
        t: "setup-failed",
        error: toWire(
          isUserError(error)
            ? error
            : new ConfigError({ message: String(error), where: "cell worker" }),
        ),
      });
      return;
    }
    const { registry, cells } = planned.value;
    let running = "";
    const runner = makeCellRunner({
      out: setup.out,
      cacheDir: setup.cacheDir,
      registry,
      progress: {
        step: (metrics, total) => emit({ t: "step", key: running, metrics, total }),
        log: (line) => emit({ t: "log", line }),
        built: (key, planBytes) =>
          emit({ t: "built", key, ...(planBytes !== undefined ? { planBytes } : {}) }),
      },
    });
    emit({ t: "ready" });
    for (;;) {
      const { run: key } = decodeLine<{ run: string }>(yield* Effect.promise(nextLine));
      const cell = cells.get(key);
      if (cell === undefined) {
        emit({
          t: "failed",
          key,
          error: toWire(
            new ConfigError({
              message: `Cell ${key} is not in the worker's plan of ${setup.source}`,
              where: setup.source,
            }),
          ),
        });
        continue;
      }
      running = key;
      const exit = yield* Effect.exit(runner.run(cell));
      if (Exit.isSuccess(exit)) {
        emit({ t: "done", key, result: exit.value });
        continue;
      }
      const error = Cause.squash(exit.cause);
      if (isUserError(error)) emit({ t: "failed", key, error: toWire(error) });
      else emit({ t: "defect", key, message: Cause.pretty(exit.cause) });
    }
  });
