/**
 * `deno task runner --cluster postgres://… [--host HOST] [--port PORT] [--listen ADDRESS]
 * [--cache DIR] [--concurrency N]`: joins the cluster as a runner and computes the cells that
 * land on its shards until interrupted.
 *
 * - `--host` (or `PROBSFT_RUNNER_HOST`; default this machine's host name) is the address the other
 *   runners and the submitting processes use to reach this one.
 * - `--port` (or `PROBSFT_RUNNER_PORT`): without one, the runner takes a free port and advertises
 *   it, so several runners share a host with no flags; a given port that is in use is refused
 *   with one line.
 * - `--listen` (or `PROBSFT_RUNNER_LISTEN`; default the host) is the address the socket binds,
 *   e.g. `0.0.0.0` in a container whose advertised name is not one of its interfaces.
 *
 * @module
 */
import { Effect } from "effect";
import { checkUrl } from "../cluster/layers.ts";
import { serveRunner } from "../cluster/runner.ts";
import { ConfigError } from "../core/errors.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";
import { registryWith } from "./registry_with.ts";

/**
 * Binds a TCP port on an address and releases it: the port the OS gives for 0, or the given one
 * when it is free.
 *
 * @param hostname The address to bind.
 * @param port The port, 0 for any free one.
 * @returns The port, or a one-line error naming the port and the flag.
 */
function claimPort(hostname: string, port: number): Effect.Effect<number, ConfigError> {
  return Effect.try({
    try: () => {
      const listener = Deno.listen({ hostname, port });
      const bound = (listener.addr as Deno.NetAddr).port;
      listener.close();
      return bound;
    },
    catch: (error) =>
      new ConfigError({
        message: error instanceof Deno.errors.AddrInUse
          ? `runner: port ${port} on ${hostname} is in use (another runner on this host?); give another --port, or leave --port out to take a free one`
          : `runner: cannot listen on ${hostname}:${port}: ${
            (error as Error).message
          } (set --listen to an address of this machine, e.g. 0.0.0.0)`,
        where: "--port",
      }),
  });
}

/** The runner command. */
export const runnerCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("runner", args, {
      cluster: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      listen: { type: "string" },
      cache: { type: "string" },
      concurrency: { type: "string" },
    });
    const url = yield* checkUrl(values.cluster ?? Deno.env.get("PROBSFT_CLUSTER"));
    const asked = yield* numberFlag(
      "runner",
      "port",
      values.port ?? Deno.env.get("PROBSFT_RUNNER_PORT"),
      0,
    );
    if (!Number.isInteger(asked) || asked < 0 || asked > 65535) {
      return yield* new ConfigError({
        message: `runner: --port must be an integer from 1 to 65535, got ${asked}`,
        where: "--port",
      });
    }
    const concurrency = yield* numberFlag("runner", "concurrency", values.concurrency, 1);
    const host = values.host ?? Deno.env.get("PROBSFT_RUNNER_HOST") ?? Deno.hostname();
    const listen = values.listen ?? Deno.env.get("PROBSFT_RUNNER_LISTEN") ?? host;
    const port = yield* claimPort(listen, asked);
    const log = (line: string) => console.log(line);
    log(
      `runner ${host}:${port}: joining the cluster${
        listen !== host ? ` (listening on ${listen})` : ""
      }${asked === 0 ? " (a free port; --port sets one)" : ""}`,
    );
    yield* serveRunner({
      url,
      endpoint: { host, port, listen },
      cacheDir: values.cache ?? ".cache/probsft",
      concurrency,
      registryFor: registryWith,
      log,
    });
  });
