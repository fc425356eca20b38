/**
 * The cluster's layers: PostgreSQL through `@effect/sql-pg`, Effect's sharding over sockets
 * (`SocketRunner` with the Node socket transport of `@effect/platform-node-shared`), SQL message
 * and runner storage, and the cluster workflow engine. A runner process hosts shards; a submitting
 * or status process joins as a client only.
 *
 * @module
 */
import { Duration, Effect, Layer, Option, Redacted } from "effect";
import {
  ClusterWorkflowEngine,
  RunnerAddress,
  RunnerHealth,
  Runners,
  type RunnerStorage,
  type Sharding,
  ShardingConfig,
  SocketRunner,
  SqlMessageStorage,
  SqlRunnerStorage,
} from "effect/cluster";
import * as Digest from "effect/crypto/Digest";
import { RpcSerialization } from "effect/rpc";
import type { SqlClient } from "effect/sql";
import type { WorkflowEngine } from "effect/workflow";
import { PgClient } from "@effect/sql-pg";
import { NodeClusterSocket } from "@effect/platform-node-shared";
import { ConfigError } from "../core/errors.ts";

/** Where a runner listens; other runners and clients reach it at this host and port. */
export interface RunnerEndpoint {
  /** The host name or IP address the other processes use for this runner. */
  readonly host: string;
  /** The TCP port. */
  readonly port: number;
  /** The address the socket binds, when not `host` (e.g. `0.0.0.0` in a container). */
  readonly listen?: string;
}

/**
 * Sharding settings probsft changes from Effect's defaults (environment variables read by
 * `ShardingConfig.layerFromEnv` still apply to the others). A runner that dies is noticed by the
 * health check within seconds, and its cells are read from storage by their new owner at the next
 * poll; a shard lock survives 90 s without a refresh, so a long synchronous stretch of training
 * (tfjs blocks the event loop between steps) does not lose it.
 */
export const shardingTuning: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  entityMessagePollInterval: Duration.seconds(2),
  runnerHealthCheckInterval: Duration.seconds(5),
  refreshAssignmentsInterval: Duration.seconds(2),
  shardLockExpiration: Duration.seconds(90),
  entityMaxIdleTime: Duration.minutes(5),
};

/**
 * Hides the password of a PostgreSQL URL for messages.
 *
 * @param url A `postgres://user:password@host:port/db` URL.
 * @returns The URL with `***` in place of the password.
 */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@");
}

/**
 * The PostgreSQL client.
 *
 * @param url A `postgres://…` URL.
 * @returns The `SqlClient` layer.
 */
export function pgLayer(
  url: string,
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, unknown> {
  return PgClient.layer({
    url: Redacted.make(url),
    applicationName: "probsft",
    connectTimeout: Duration.seconds(10),
  });
}

function storageAndConfig(runner: RunnerEndpoint | undefined) {
  const config = ShardingConfig.layerFromEnv({
    ...shardingTuning,
    runnerAddress: runner
      ? Option.some(RunnerAddress.make(runner.host, runner.port))
      : Option.none(),
    runnerListenAddress: runner?.listen !== undefined && runner.listen !== runner.host
      ? Option.some(RunnerAddress.make(runner.listen, runner.port))
      : Option.none(),
  });
  return {
    messages: SqlMessageStorage.layer.pipe(Layer.provide(Digest.layerWebCrypto)),
    runners: Layer.orDie(SqlRunnerStorage.layer),
    config,
    serialization: RpcSerialization.layerSchemaBinary(),
  };
}

/**
 * The workflow engine of a runner process: it listens on `runner` and takes its share of the
 * shards, so the workflows registered on top of it run here.
 *
 * @param url The PostgreSQL URL.
 * @param runner This runner's address.
 * @returns A layer with the workflow engine and the SQL client.
 */
export function runnerLayer(
  url: string,
  runner: RunnerEndpoint,
): Layer.Layer<WorkflowEngine.WorkflowEngine | SqlClient.SqlClient, unknown> {
  const parts = storageAndConfig(runner);
  const health = RunnerHealth.layerPing.pipe(
    Layer.provide(Runners.layerRpc),
    Layer.provide(NodeClusterSocket.layerClientProtocol),
  );
  const sharding = SocketRunner.layer.pipe(
    Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol]),
    Layer.provide(health),
    Layer.provideMerge(parts.messages),
    Layer.provide(parts.runners),
    Layer.provide(parts.config),
    Layer.provide(parts.serialization),
  );
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(sharding),
    Layer.provideMerge(pgLayer(url)),
  );
}

/**
 * The workflow engine of a client process (submit, follow, collect, status): it sends to the
 * runners and reads replies from storage, and hosts no shards. It also gives the sharding, the
 * runner storage and the config, from which `cluster/placement.ts` reads the shard ring.
 *
 * @param url The PostgreSQL URL.
 * @returns A layer with the workflow engine, the cluster services and the SQL client.
 */
export function clientLayer(
  url: string,
): Layer.Layer<
  | WorkflowEngine.WorkflowEngine
  | SqlClient.SqlClient
  | Sharding.Sharding
  | RunnerStorage.RunnerStorage
  | ShardingConfig.ShardingConfig,
  unknown
> {
  const parts = storageAndConfig(undefined);
  const sharding = SocketRunner.layerClientOnly.pipe(
    Layer.provide(NodeClusterSocket.layerClientProtocol),
    Layer.provideMerge(parts.messages),
    Layer.provideMerge(parts.runners),
    Layer.provideMerge(parts.config),
    Layer.provide(parts.serialization),
  );
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(sharding),
    Layer.provideMerge(pgLayer(url)),
  );
}

/**
 * Turns a failure of the cluster machinery (SQL, sockets, Effect config) into a one-line
 * ConfigError that names the database; probsft's own errors pass through.
 *
 * @param url The PostgreSQL URL (its password is hidden in the message).
 * @param error The failure.
 * @returns The error for the command line.
 */
export function clusterError(url: string, error: unknown): ConfigError {
  if (error instanceof ConfigError) return error;
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : "";
  const detail = error instanceof Error
    ? [error.message || error.name, cause].filter((m) => m !== "").join(": ")
    : String(error);
  return new ConfigError({
    message: `cluster ${redactUrl(url)}: ${detail.split("\n")[0]}`,
    where: "--cluster",
  });
}

/**
 * Runs a cluster effect with its failures, and the SQL failures Effect's cluster layers raise as
 * defects (an unreachable database during their migrations), as one-line ConfigErrors.
 *
 * @param url The PostgreSQL URL.
 * @param effect What to run.
 * @returns The effect with mapped errors.
 */
export function asUserErrors<A, E>(
  url: string,
  effect: Effect.Effect<A, E>,
): Effect.Effect<A, ConfigError | Extract<E, ConfigError>> {
  return effect.pipe(
    Effect.mapError((error) => clusterError(url, error)),
    Effect.catchDefect((defect) =>
      (defect as { _tag?: unknown })?._tag === "SqlError"
        ? Effect.fail(clusterError(url, defect))
        : Effect.die(defect)
    ),
  );
}

/**
 * Fails unless the text is a PostgreSQL URL.
 *
 * @param url The `--cluster` value.
 * @returns The URL.
 */
export function checkUrl(url: string | undefined): Effect.Effect<string, ConfigError> {
  if (url !== undefined && /^postgres(ql)?:\/\//.test(url)) return Effect.succeed(url);
  return Effect.fail(
    new ConfigError({
      message:
        `--cluster must be a PostgreSQL URL (postgres://user:password@host:port/database), got ${
          JSON.stringify(url ?? "")
        }`,
      where: "--cluster",
    }),
  );
}
