// The order of a parallel run (core/_schedule.ts): a base model is built by one cell before the
// cells that share it start; groups not yet started go first; memory holds cells back.
import assert from "node:assert/strict";
import { scheduleCells } from "../../core/_schedule.ts";

const cell = (key: string, group: string, baseSeed = 0) => ({ key, group, baseSeed });
const grid = [
  cell("a-base", "A"),
  cell("a-nll", "A"),
  cell("a-p", "A"),
  cell("a-nll-s1", "A", 1),
  cell("b-base", "B"),
  cell("b-nll", "B"),
];
const unbounded = { budget: Infinity, perWorker: 0 };

Deno.test("scheduleCells() starts one cell per base model until it is built", () => {
  const s = scheduleCells(grid, unbounded);
  assert.equal(s.next()?.key, "a-base");
  // A's seed-0 base is being built: the next cells build other base models.
  assert.equal(s.next()?.key, "a-nll-s1");
  assert.equal(s.next()?.key, "b-base");
  assert.equal(s.next(), undefined);
  assert.equal(s.heldByMemory, false);
  s.built(grid[0]!, undefined);
  assert.equal(s.next()?.key, "a-nll");
  assert.equal(s.next()?.key, "a-p");
  assert.equal(s.next(), undefined);
  s.built(grid[4]!, undefined);
  assert.equal(s.next()?.key, "b-nll");
  assert.equal(s.waiting, 0);
  assert.equal(s.running, 6);
});

Deno.test("scheduleCells(): a first cell that fails before its model is built hands the build on", () => {
  const s = scheduleCells(grid.slice(0, 3), unbounded);
  const first = s.next()!;
  assert.equal(s.next(), undefined);
  s.ended(first);
  assert.equal(s.next()?.key, "a-nll");
  assert.equal(s.next(), undefined, "a-nll builds alone again");
});

Deno.test("scheduleCells() holds cells back while the running ones and it exceed the budget", () => {
  const gib = 1024 ** 3;
  const s = scheduleCells([cell("x", "X"), cell("y", "Y"), cell("z", "Z")], {
    budget: 3 * gib,
    perWorker: 0.5 * gib,
    known: new Map([["X", 2 * gib], ["Y", 2 * gib]]),
  });
  const x = s.next()!;
  assert.equal(x.key, "x");
  // y needs 2.5 GiB beside x's 2.5 GiB; z's plan is unknown (its worker alone fits).
  assert.equal(s.next()?.key, "z");
  assert.equal(s.next(), undefined);
  assert.equal(s.heldByMemory, true);
  s.ended(x);
  assert.equal(s.next()?.key, "y");
  // With nothing else running a cell always starts (its own memory check decides).
  const alone = scheduleCells([cell("big", "X")], {
    budget: gib,
    perWorker: 0.5 * gib,
    known: new Map([["X", 8 * gib]]),
  });
  assert.equal(alone.next()?.key, "big");
});

Deno.test("scheduleCells() learns a group's plan when its model is built", () => {
  const gib = 1024 ** 3;
  const cells = [cell("x1", "X"), cell("x2", "X"), cell("x3", "X")];
  const s = scheduleCells(cells, { budget: 5 * gib, perWorker: 0.5 * gib });
  const first = s.next()!;
  s.built(first, 2 * gib);
  assert.equal(s.next()?.key, "x2");
  assert.equal(s.next(), undefined, "a third 2.5 GiB cell exceeds 5 GiB");
  assert.equal(s.heldByMemory, true);
});
