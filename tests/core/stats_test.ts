import assert from "node:assert/strict";
import { studentQuantile, studentTwoSided, welchTest } from "../../core/stats.ts";

// Reference values from SciPy 1.x: scipy.stats.ttest_ind(a, b, equal_var=False) and
// scipy.stats.t.ppf.
Deno.test("welchTest() matches SciPy's Welch t-test", () => {
  const a = welchTest([4, 5, 6], [1, 2, 3]);
  assert.ok(Math.abs(a.t - -3.6742346141747673) < 1e-12);
  assert.ok(Math.abs(a.degreesOfFreedom - 4) < 1e-12);
  assert.ok(Math.abs(a.pValue - 0.021311641128756713) < 1e-9, `p ${a.pValue}`);
  const b = welchTest([0.03, 0.02, 0.045], [0.9, 0.91, 0.905]);
  assert.ok(Math.abs(b.t - 111.71717537033987) < 1e-9);
  assert.ok(Math.abs(b.degreesOfFreedom - 2.616216216216217) < 1e-9);
  assert.ok(Math.abs(b.pValue - 6.925128785891392e-06) < 1e-10, `p ${b.pValue}`);
  assert.ok(b.interval[0] < b.difference && b.difference < b.interval[1]);
});

Deno.test("studentQuantile() inverts the two-sided tail", () => {
  assert.ok(Math.abs(studentQuantile(0.975, 2.5) - 3.5746548420036817) < 1e-9);
  assert.ok(Math.abs(studentQuantile(0.975, 4) - 2.7764451051977987) < 1e-9);
  assert.ok(Math.abs(studentTwoSided(2.7764451051977987, 4) - 0.05) < 1e-12);
});

Deno.test("welchTest() with fewer than two values a side or no variance", () => {
  assert.ok(Number.isNaN(welchTest([1], [2, 3]).pValue));
  assert.equal(welchTest([0, 0, 0], [0.5, 0.5, 0.5]).pValue, 0);
  assert.equal(welchTest([0.2, 0.2], [0.2, 0.2]).pValue, 1);
});
