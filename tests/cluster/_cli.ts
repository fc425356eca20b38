// The cluster commands as a command line for the tests (the same exit statuses as main.ts), until
// main.ts lists them: `deno run -A tests/cluster/_cli.ts runner|experiment|cluster-status …`.
import { Cause, Effect, Exit, Fiber } from "effect";
import { isUserError } from "../../core/errors.ts";
import type { Command } from "../../commands/flags.ts";
import { clusterStatusCommand } from "../../commands/cluster_status.ts";
import { experimentCommand } from "../../commands/experiment.ts";
import { runnerCommand } from "../../commands/runner.ts";

const commands: Record<string, Command> = {
  runner: runnerCommand,
  experiment: experimentCommand,
  "cluster-status": clusterStatusCommand,
};

const [name, ...rest] = Deno.args;
const command = commands[name ?? ""];
if (command === undefined) {
  console.error(`error: unknown command ${JSON.stringify(name)}`);
  Deno.exit(1);
}
const fiber = Effect.runFork(command(rest));
const stop = () => Effect.runFork(Fiber.interrupt(fiber));
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
const exit = await Effect.runPromise(Fiber.await(fiber));
if (Exit.isSuccess(exit)) Deno.exit(0);
if (Cause.hasInterruptsOnly(exit.cause)) Deno.exit(130);
const error = Cause.squash(exit.cause);
if (isUserError(error)) {
  console.error(`error: ${error.message.replaceAll("\n", " ")}`);
  Deno.exit(1);
}
console.error(Cause.pretty(exit.cause));
Deno.exit(2);
