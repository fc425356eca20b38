/**
 * The `deno task …` entry: joins the built-in plugin (and any `--plugin`) to the core and runs a
 * command. A user's mistake ends with one line on stderr and exit status 1; a defect of probsft
 * itself shows its stack with a note to report it.
 *
 * @module
 */
import { Cause, Effect, Exit, Fiber } from "effect";
import { ConfigError, isUserError, type UserError } from "./core/errors.ts";
import type { Command } from "./commands/flags.ts";
import { benchCommand } from "./commands/bench.ts";
import { clusterStatusCommand } from "./commands/cluster_status.ts";
import { experimentCommand } from "./commands/experiment.ts";
import { fuzzCommand } from "./commands/fuzz.ts";
import { soakCommand } from "./commands/soak.ts";
import { listCommand } from "./commands/list.ts";
import { probeCommand } from "./commands/probe.ts";
import { runnerCommand } from "./commands/runner.ts";
import { theoryCommand } from "./commands/theory.ts";
import { generateCommand } from "./commands/generate.ts";
import { sftCommand } from "./commands/sft.ts";
import { cellWorkerCommand } from "./commands/cell_worker.ts";
import { scoreCommand } from "./commands/score.ts";
import { graderAgreementCommand } from "./commands/grader_agreement.ts";

const commands: Record<string, Command> = {
  list: listCommand,
  experiment: experimentCommand,
  probe: probeCommand,
  theory: theoryCommand,
  generate: generateCommand,
  sft: sftCommand,
  bench: benchCommand,
  fuzz: fuzzCommand,
  soak: soakCommand,
  runner: runnerCommand,
  "cluster-status": clusterStatusCommand,
  score: scoreCommand,
  "grader-agreement": graderAgreementCommand,
};

/** Commands that probsft runs itself and that are not listed for users. */
const internal: Record<string, Command> = {
  // The worker process of `experiment --jobs N` (core/worker_pool.ts).
  "cell-worker": cellWorkerCommand,
};

function program(argv: ReadonlyArray<string>): Effect.Effect<void, UserError> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : commands[name] ?? internal[name];
  if (command === undefined) {
    return Effect.fail(
      new ConfigError({
        message: `Unknown command ${JSON.stringify(name ?? "")}; commands: ${
          Object.keys(commands).join(", ")
        }`,
        where: "command line",
      }),
    );
  }
  return command(rest);
}

/**
 * Runs a command line to completion and returns the exit status; Ctrl-C interrupts the command,
 * which stops after writing what is finished.
 *
 * @param argv The command and its arguments.
 * @returns 0 on success, 1 on a user error, 2 on a defect, 130 on interruption.
 */
export async function main(argv: ReadonlyArray<string>): Promise<number> {
  const fiber = Effect.runFork(program(argv));
  const onSignal = () => {
    console.error("\ninterrupted: stopping after what is finished is written");
    Effect.runFork(Fiber.interrupt(fiber));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  const exit = await Effect.runPromise(Fiber.await(fiber));
  Deno.removeSignalListener("SIGINT", onSignal);
  if (Exit.isSuccess(exit)) return 0;
  if (Cause.hasInterruptsOnly(exit.cause)) return 130;
  const error = Cause.squash(exit.cause);
  if (isUserError(error)) {
    console.error(`error: ${error.message.replaceAll("\n", " ")}`);
    return 1;
  }
  console.error(Cause.pretty(exit.cause));
  console.error("This is a defect in probsft itself; please report it with the command you ran.");
  return 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
