import "../_setup.ts";
import assert from "node:assert/strict";
import { lineChart } from "../../core/svg.ts";

const options = { title: "A & B <test>", xLabel: "x", yLabel: "y" };

Deno.test("lineChart returns a standalone SVG document with axes, ticks and a legend", () => {
  const svg = lineChart(
    [
      { name: "up", points: [[0, 0], [0.5, 0.5], [1, 1]] },
      { name: "down", points: [[0, 1], [1, 0]], dashed: true, markers: true },
    ],
    options,
  );
  assert.ok(svg.startsWith('<?xml version="1.0"'));
  assert.ok(svg.includes('xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.ok(svg.includes("A &amp; B &lt;test&gt;"), "title not escaped");
  assert.ok(svg.includes(">up</text>") && svg.includes(">down</text>"), "legend");
  assert.ok(svg.includes('stroke-dasharray="6 4"'), "dashed series");
  assert.equal((svg.match(/<circle /g) ?? []).length, 2 + 1, "markers + legend symbol");
  for (const tick of [">0</text>", ">0.2</text>", ">1</text>"]) assert.ok(svg.includes(tick));
  assert.equal(
    svg,
    lineChart([
      { name: "up", points: [[0, 0], [0.5, 0.5], [1, 1]] },
      { name: "down", points: [[0, 1], [1, 0]], dashed: true, markers: true },
    ], options),
    "not deterministic",
  );
  // Balanced tags: every opened element is closed.
  const opened = (svg.match(/<(svg|g|defs|clipPath)[ >]/g) ?? []).length;
  const closed = (svg.match(/<\/(svg|g|defs|clipPath)>/g) ?? []).length;
  assert.equal(opened, closed);
});

Deno.test("lineChart draws error bars, vertical lines and breaks lines at non-finite points", () => {
  const svg = lineChart(
    [{ name: "", points: [[1, 1], [2, NaN], [3, 2]], errors: [0.1, 0, 0.2] }],
    { ...options, verticalLines: [{ x: 2, label: "mid" }], width: 300, height: 200 },
  );
  assert.ok(svg.includes('width="300" height="200"'));
  assert.ok(svg.includes(">mid</text>"));
  assert.ok(svg.includes('class="reference"'));
  assert.ok(!svg.includes('class="legend"'), "an unnamed series has no legend");
  const line = svg.match(/<path d="(M[^"]*)" stroke="#1f77b4"\/>/);
  assert.ok(line, "series path");
  assert.equal((line[1]!.match(/M/g) ?? []).length, 2, "the NaN point must break the line");
  assert.equal((svg.match(/stroke-width="1"\/>/g) ?? []).length >= 2, true, "two error bars");
});

Deno.test("lineChart supports a log x axis and fixed domains", () => {
  const svg = lineChart(
    [{ name: "s", points: [[0.001, 1], [0.1, 2], [10, 3], [-1, 4]] }],
    { ...options, xLog: true, yDomain: [0, 4] },
  );
  for (const tick of [">0.001</text>", ">0.1</text>", ">10</text>"]) {
    assert.ok(svg.includes(tick), `missing tick ${tick}`);
  }
  assert.throws(() => lineChart([], { ...options, xLog: true, xDomain: [0, 1] }), RangeError);
  assert.throws(() => lineChart([], { ...options, width: 0 }), RangeError);
  assert.ok(lineChart([], options).includes("</svg>"), "an empty chart still renders");
});
