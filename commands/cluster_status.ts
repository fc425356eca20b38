/**
 * `deno task cluster-status --cluster postgres://… [--sweep ID]`: lists the cluster's runners and
 * each sweep's cells: done, running and failed per runner, and waiting.
 *
 * @module
 */
import { Effect } from "effect";
import { checkUrl } from "../cluster/layers.ts";
import { clusterStatus } from "../cluster/status.ts";
import { type Command, parseFlags } from "./flags.ts";

/** The cluster status command. */
export const clusterStatusCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("cluster-status", args, {
      cluster: { type: "string" },
      sweep: { type: "string" },
    });
    const url = yield* checkUrl(values.cluster ?? Deno.env.get("PROBSFT_CLUSTER"));
    const lines = yield* clusterStatus(url, values.sweep);
    console.log(lines.join("\n"));
  });
