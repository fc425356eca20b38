/**
 * `deno task runner --cluster postgres://… [--host HOST] [--port PORT] [--cache DIR]
 * [--concurrency N]`: joins the cluster as a runner and computes the cells that land on its
 * shards until interrupted. `--host` is the address the other runners and the submitting
 * processes use to reach this one (default: `PROBSFT_RUNNER_HOST` or this machine's host name).
 *
 * @module
 */
import { Effect } from "effect";
import { checkUrl } from "../cluster/layers.ts";
import { serveRunner } from "../cluster/runner.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";
import { registryWith } from "./registry_with.ts";

/** The runner command. */
export const runnerCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("runner", args, {
      cluster: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      cache: { type: "string" },
      concurrency: { type: "string" },
    });
    const url = yield* checkUrl(values.cluster ?? Deno.env.get("PROBSFT_CLUSTER"));
    const port = yield* numberFlag("runner", "port", values.port, 34431);
    const concurrency = yield* numberFlag("runner", "concurrency", values.concurrency, 1);
    const host = values.host ?? Deno.env.get("PROBSFT_RUNNER_HOST") ?? Deno.hostname();
    const log = (line: string) => console.log(line);
    log(`runner ${host}:${port}: joining the cluster`);
    yield* serveRunner({
      url,
      endpoint: { host, port },
      cacheDir: values.cache ?? ".cache/probsft",
      concurrency,
      registryFor: registryWith,
      log,
    });
  });
