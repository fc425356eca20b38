/**
 * Cell worker processes for a parallel run: each is `deno run -A main.ts cell-worker` (or what
 * the caller gives), told the experiment once and then one cell at a time over the line protocol
 * of core/_cell_protocol.ts; it runs the same cell code as the serial runner
 * (`makeCellRunner(context).run(cell)`) with the same output and cache folders, so checkpoints,
 * metrics and the pretrained-backbone cache are shared with it. tfjs computes on one thread per
 * process, so separate processes are what puts several cores to work.
 *
 * A worker that dies mid-cell (killed, out of memory) fails that cell with a message saying how
 * it ended; a worker never outlives its parent: it asks the kernel for SIGKILL when the parent
 * dies (Linux) and exits when its stdin closes.
 *
 * @module
 */
import type { CellError, CellResult } from "./cell.ts";
import {
  decodeLine,
  encodeLine,
  fromWire,
  messageMark,
  readLines,
  type WorkerMessage,
  type WorkerSetup,
} from "./_cell_protocol.ts";
import type { UserError } from "./errors.ts";
import type { StepMetrics } from "./train.ts";

/** How to start a worker process. */
export interface WorkerCommand {
  /** The executable (the running Deno by default). */
  readonly command: string;
  /** Its arguments, e.g. `["run", "-A", ".../main.ts", "cell-worker"]`. */
  readonly args: ReadonlyArray<string>;
  /** Extra environment variables for it. */
  readonly env?: Readonly<Record<string, string>>;
}

/** What a worker reports while it runs a cell. */
export interface CellEvents {
  /** A training step finished. */
  step(metrics: StepMetrics, total: number): void;
  /** The cell's model is built. */
  built(planBytes: number | undefined): void;
}

/** How a cell ended in a worker. */
export type WorkerOutcome =
  | { readonly _tag: "Done"; readonly result: CellResult }
  | { readonly _tag: "Failed"; readonly error: CellError }
  | { readonly _tag: "Defect"; readonly message: string }
  | { readonly _tag: "Crashed"; readonly message: string };

/** A started worker process. */
export interface CellWorker {
  /** The worker's process id. */
  readonly pid: number;
  /** Runs one cell (by key) and tells how it ended; one cell at a time. */
  run(key: string, events: CellEvents): Promise<WorkerOutcome>;
  /** Closes its stdin and waits for it to exit (killing it after `graceMs`). */
  close(graceMs?: number): Promise<void>;
  /** Kills it now. */
  kill(): void;
}

/**
 * A worker that could not start: its setup failed with a user error, it exited by itself
 * (`Crashed`: anything it printed was logged), or a signal from outside killed it (`Killed`: the
 * OOM killer, a user's `kill`).
 */
export type StartFailure =
  | { readonly _tag: "SetupFailed"; readonly error: UserError }
  | { readonly _tag: "Crashed"; readonly message: string }
  | { readonly _tag: "Killed"; readonly message: string };

const encoder = new TextEncoder();

function describeExit(status: Deno.CommandStatus): string {
  return status.signal !== null
    ? `was killed by ${status.signal}${status.signal === "SIGKILL" ? " (out of memory?)" : ""}`
    : `exited with status ${status.code}`;
}

/**
 * Starts a worker and waits until it has planned the experiment.
 *
 * @param command How to start it.
 * @param setup The experiment it runs cells of.
 * @param log Receives its log lines (and anything else it prints).
 * @returns The worker, or why it could not start (the process is gone then).
 */
export async function startWorker(
  command: WorkerCommand,
  setup: WorkerSetup,
  log: (line: string) => void,
): Promise<{ worker: CellWorker } | { failure: StartFailure }> {
  const child = new Deno.Command(command.command, {
    args: [...command.args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    // Its own process group: a Ctrl-C at the terminal reaches the parent alone, which stops its
    // workers itself rather than seeing each die as a failed cell.
    detached: true,
    ...(command.env ? { env: { ...command.env } } : {}),
  }).spawn();
  const stdin = child.stdin.getWriter();
  const send = (value: unknown) =>
    stdin.write(encoder.encode(encodeLine(value) + "\n")).catch(() => undefined);
  let ready: ((failure: StartFailure | undefined) => void) | undefined;
  const started = new Promise<StartFailure | undefined>((resolve) => (ready = resolve));
  let current:
    | { key: string; events: CellEvents; resolve: (outcome: WorkerOutcome) => void }
    | undefined;
  const settle = (outcome: WorkerOutcome) => {
    const pending = current;
    current = undefined;
    pending?.resolve(outcome);
  };
  const onMessage = (message: WorkerMessage) => {
    switch (message.t) {
      case "ready":
        return ready?.(undefined);
      case "setup-failed":
        return ready?.({ _tag: "SetupFailed", error: fromWire(message.error) });
      case "log":
        return log(message.line);
      case "step":
        return current?.key === message.key
          ? current.events.step(message.metrics, message.total)
          : undefined;
      case "built":
        return current?.key === message.key ? current.events.built(message.planBytes) : undefined;
      case "done":
        return settle({ _tag: "Done", result: message.result });
      case "failed":
        return settle({ _tag: "Failed", error: fromWire(message.error) as CellError });
      case "defect":
        return settle({ _tag: "Defect", message: message.message });
    }
  };
  const stdout = readLines(child.stdout, (line) => {
    if (!line.startsWith(messageMark)) return line.trim() === "" ? undefined : log(line);
    let message: WorkerMessage;
    try {
      message = decodeLine<WorkerMessage>(line.slice(messageMark.length));
    } catch {
      return log(
        `cell worker (process ${child.pid}) wrote an unreadable line: ${line.slice(0, 200)}`,
      );
    }
    onMessage(message);
  }).catch(() => undefined);
  const stderr = readLines(child.stderr, (line) => {
    if (line.trim() !== "") log(line);
  }).catch(() => undefined);
  let gone: string | undefined;
  const exited = Promise.all([child.status, stdout, stderr]).then(([status]) => {
    const message = `cell worker (process ${child.pid}) ${describeExit(status)}`;
    gone = message;
    ready?.({ _tag: status.signal === null ? "Crashed" : "Killed", message });
    settle({ _tag: "Crashed", message: `${message} while running cell ${current?.key}` });
    return status;
  });
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  };
  await send(setup);
  const failure = await started;
  if (failure !== undefined) {
    kill();
    await exited;
    return { failure };
  }
  return {
    worker: {
      pid: child.pid,
      run(key, events) {
        if (current !== undefined) throw new Error(`worker busy with ${current.key}`);
        return new Promise<WorkerOutcome>((resolve) => {
          if (gone !== undefined) {
            return resolve({ _tag: "Crashed", message: `${gone} before cell ${key} started` });
          }
          current = { key, events, resolve };
          void send({ run: key });
        });
      },
      async close(graceMs = 5000) {
        await stdin.close().catch(() => undefined);
        const timer = setTimeout(kill, graceMs);
        await exited;
        clearTimeout(timer);
      },
      kill,
    },
  };
}
