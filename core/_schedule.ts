/**
 * The order in which a parallel run hands cells to its workers. Cells of one (domain, backbone)
 * group with one base seed share a base model that may need pretraining (cached by content): the
 * first of them runs alone until its model is built, so that no two workers pretrain the same backbone, and
 * meanwhile the other workers take cells of other groups (groups not yet started first). A cell is also held back while the
 * cells already running and it would need more memory than the machine has (each estimated as a
 * worker's own footprint plus its group's memory plan, once known); with nothing running, the
 * next cell always starts, and its own memory check decides.
 *
 * @module
 */

/** What the scheduler needs of a cell. */
export interface SchedulableCell {
  /** The cell key. */
  readonly key: string;
  /** The (domain, backbone) group. */
  readonly group: string;
  /** The seed its base model is built with (cells of a group with another seed build another). */
  readonly baseSeed?: number;
}

/** The base model a cell builds: its group and base seed. */
function baseOf(cell: SchedulableCell): string {
  return cell.baseSeed === undefined ? cell.group : `${cell.group}#${cell.baseSeed}`;
}

type GroupState = "cold" | "warming" | "warm";

/** Hands out cells; see the module documentation. */
export interface CellSchedule<C extends SchedulableCell> {
  /** The next cell to start now, if any may (it is counted as running). */
  next(): C | undefined;
  /** A running cell's model is built, with its memory plan's bytes when known. */
  built(cell: C, planBytes: number | undefined): void;
  /** A running cell ended (finished or failed). */
  ended(cell: C): void;
  /** Cells not yet started. */
  readonly waiting: number;
  /** Cells running. */
  readonly running: number;
  /** Whether the last {@link next} that gave nothing was held back by memory alone. */
  readonly heldByMemory: boolean;
  /** The estimated bytes of a running cell (its worker and its group's plan). */
  estimate(cell: C): number;
}

/** Memory bounds of a schedule. */
export interface ScheduleMemory {
  /** Bytes the cells may use together (Infinity: no bound). */
  readonly budget: number;
  /** Bytes a worker takes besides its cell's plan. */
  readonly perWorker: number;
  /** Plan bytes known before the run, per group (a footprint read without building). */
  readonly known?: ReadonlyMap<string, number>;
}

/**
 * A schedule over cells, in their plan order where it can.
 *
 * @param cells The cells to run.
 * @param memory The memory budget and estimates.
 * @returns The schedule.
 */
export function scheduleCells<C extends SchedulableCell>(
  cells: ReadonlyArray<C>,
  memory: ScheduleMemory,
): CellSchedule<C> {
  const todo = [...cells];
  const states = new Map<string, GroupState>();
  const wasBuilt = new Set<string>();
  const plans = new Map(memory.known ?? []);
  const running = new Map<string, C>();
  let heldByMemory = false;
  const estimate = (cell: C) => memory.perWorker + (plans.get(cell.group) ?? 0);
  const inUse = () => [...running.values()].reduce((n, c) => n + estimate(c), 0);
  const stateOf = (cell: C) => states.get(baseOf(cell)) ?? "cold";
  return {
    next() {
      const fits = (c: C) => running.size === 0 || inUse() + estimate(c) <= memory.budget;
      // A group not yet started first: its backbone (perhaps a long pretraining) is then ready
      // early, and the run does not end waiting on one group's pretraining.
      let index = todo.findIndex((c) => stateOf(c) === "cold" && fits(c));
      if (index < 0) index = todo.findIndex((c) => stateOf(c) === "warm" && fits(c));
      if (index < 0) {
        heldByMemory = todo.some((c) => stateOf(c) !== "warming" && !fits(c));
        return undefined;
      }
      heldByMemory = false;
      const [cell] = todo.splice(index, 1);
      if (stateOf(cell!) === "cold") states.set(baseOf(cell!), "warming");
      running.set(cell!.key, cell!);
      return cell;
    },
    built(cell, planBytes) {
      wasBuilt.add(cell.key);
      states.set(baseOf(cell), "warm");
      if (planBytes !== undefined) {
        plans.set(cell.group, Math.max(plans.get(cell.group) ?? 0, planBytes));
      }
    },
    ended(cell) {
      running.delete(cell.key);
      // A first cell that failed before its model was built leaves the group cold: the next
      // cell of it builds (and reports its own error) alone.
      if (stateOf(cell) === "warming" && !wasBuilt.has(cell.key)) {
        states.set(baseOf(cell), "cold");
      }
    },
    get waiting() {
      return todo.length;
    },
    get running() {
      return running.size;
    },
    get heldByMemory() {
      return heldByMemory;
    },
    estimate,
  };
}
