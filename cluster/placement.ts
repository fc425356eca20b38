/**
 * Placement of a sweep's cells on the runners that exist. Effect's cluster places an entity by
 * the hash of its id: shard = hash(id) mod `shardsPerGroup`, and each shard belongs to one runner
 * through a consistent-hash ring over the healthy runners. A sweep of a few cells therefore lands
 * unevenly (three cells on three runners all share one runner a ninth of the time). The
 * submitting process reads the same ring Effect computes (the healthy runners from the runner
 * storage, `HashRing.getShards`) and gives each new execution a salt in its id that puts it on
 * the runner with the fewest cells of the sweep still to compute. Nothing else changes: the
 * messages, shard locks, failover and rebalancing are Effect's; if the ring moves (a runner joins
 * or dies), a cell simply runs where its shard now is.
 *
 * @module
 */
import { Effect, HashRing } from "effect";
import {
  EntityId,
  type RunnerAddress,
  RunnerStorage,
  Sharding,
  ShardingConfig,
} from "effect/cluster";

/** Where Effect's cluster would run an execution id now. */
export interface ShardOwners {
  /** The healthy runners, as `host:port`, sorted. */
  readonly runners: ReadonlyArray<string>;
  /** The runner (`host:port`) that owns the execution's shard, when any runner is healthy. */
  owner(executionId: string): string | undefined;
}

function label(address: RunnerAddress.RunnerAddress): string {
  return `${address.host}:${address.port}`;
}

/**
 * Reads the shard ring of the cluster's healthy runners, as Effect's sharding builds it.
 *
 * @param group The shard group of the entities (workflows use `default`).
 * @returns The owners.
 */
export function shardOwners(
  group = "default",
): Effect.Effect<
  ShardOwners,
  unknown,
  Sharding.Sharding | RunnerStorage.RunnerStorage | ShardingConfig.ShardingConfig
> {
  return Effect.gen(function* () {
    const sharding = yield* Sharding.Sharding;
    const storage = yield* RunnerStorage.RunnerStorage;
    const config = yield* ShardingConfig.ShardingConfig;
    const runners = (yield* storage.getRunners)
      .filter(([runner, healthy]) => healthy && runner.groups.includes(group))
      .map(([runner]) => runner);
    const ring = HashRing.make<RunnerAddress.RunnerAddress>();
    for (const runner of runners) HashRing.add(ring, runner.address, { weight: runner.weight });
    const shards = HashRing.getShards(ring, config.shardsPerGroup);
    return {
      runners: runners.map((r) => label(r.address)).sort(),
      owner(executionId: string) {
        const shard = sharding.getShardId(EntityId.make(executionId), group);
        const address = shards?.[shard.id - 1];
        return address === undefined ? undefined : label(address);
      },
    };
  });
}

/** Chooses salts for new executions so that they spread over the runners. */
export interface Placer {
  /** Counts an execution that is already placed (reused, still to compute) on its runner. */
  count(executionId: string): void;
  /**
   * Picks the placement of a new execution: the first salt whose execution id lands on the
   * runner with the fewest cells to compute (ties: the first in address order).
   *
   * @param attempt The attempt (0 first; one more per earlier failed execution of the cell).
   * @param executionIdOf The execution id a placement token gives.
   * @returns The placement token `<attempt>.<salt>`.
   */
  place(
    attempt: number,
    executionIdOf: (placement: string) => Effect.Effect<string>,
  ): Effect.Effect<string>;
  /** Cells placed (new or counted) per runner. */
  readonly load: ReadonlyMap<string, number>;
}

/**
 * A placer over the owners read before submitting.
 *
 * @param owners From {@link shardOwners}.
 * @returns The placer.
 */
export function makePlacer(owners: ShardOwners): Placer {
  const load = new Map(owners.runners.map((r) => [r, 0]));
  const add = (runner: string | undefined) => {
    if (runner !== undefined && load.has(runner)) load.set(runner, load.get(runner)! + 1);
  };
  return {
    load,
    count: (executionId) => add(owners.owner(executionId)),
    place: (attempt, executionIdOf) =>
      Effect.gen(function* () {
        const first = `${attempt}.0`;
        if (load.size === 0) return first;
        let target = owners.runners[0]!;
        for (const runner of owners.runners) {
          if (load.get(runner)! < load.get(target)!) target = runner;
        }
        // Each salt hits the target with probability about 1/runners; give up after many.
        const tries = 64 * load.size;
        for (let salt = 0; salt < tries; salt++) {
          const placement = `${attempt}.${salt}`;
          if (owners.owner(yield* executionIdOf(placement)) === target) {
            add(target);
            return placement;
          }
        }
        add(owners.owner(yield* executionIdOf(first)));
        return first;
      }),
  };
}
