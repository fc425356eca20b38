import "../_setup.ts";
import assert from "node:assert/strict";
import { testBenchmark } from "../../core/testing.ts";
import {
  extractMathAnswer,
  mathAnswer,
  mathAnswersEqual,
  normalizeMathAnswer,
} from "../../benchmarks/mod.ts";

Deno.test("extractMathAnswer() follows the Qwen2.5-Math order", () => {
  const cases: Array<[string, string | null]> = [
    ["Final Answer: The final answer is $7$. I hope it is correct. \\boxed{3}", "7"],
    ["first \\boxed{1} then \\boxed{2}", "2"],
    ["nested \\boxed{\\frac{1}{\\sqrt{2}}} ok", "\\frac{1}{\\sqrt{2}}"],
    ["so $\\boxed 5$ is it", "5"],
    ["Thus $x = \\boxed{\\dfrac{1}{2}}$.", "\\frac{1}{2}"],
    ["The answer is 1,000.", "1,000"],
    ["So the final answer is 12", "12"],
    ["we get 3 apples and then 4.5, 1,234 more", "1234"],
    ["no digits here", null],
    ["\\boxed{x = 5}", "5"],
    ["\\boxed{10^\\circ}", "10"],
    ["\\boxed{12 \\text{ cm}}", "12"],
    ["\\boxed{\\left( 1, 2 \\right)}", "(1,2)"],
    ["\\boxed{\\frac12}", "\\frac{1}{2}"],
    ["\\boxed{3/4}", "\\frac{3}{4}"],
    ["\\boxed{2\\sqrt3}", "2\\sqrt{3}"],
    ["\\boxed{ 8 4 9 }", "849"],
    ["\\boxed{50\\%}", "50"],
    ["answer: \\boxed{-0.50}", "-0.50"],
  ];
  for (const [text, expected] of cases) assert.equal(extractMathAnswer(text), expected, text);
});

Deno.test("normalizeMathAnswer() strips units, text and wrappers", () => {
  assert.equal(normalizeMathAnswer("\\text{5 dollars}"), "5");
  assert.equal(normalizeMathAnswer("\\tfrac{3}{4}."), "\\frac{3}{4}");
  assert.equal(normalizeMathAnswer("k = 7"), "7");
  assert.equal(normalizeMathAnswer("2.000"), "2");
});

Deno.test("mathAnswersEqual() accepts simple equivalent forms and rejects others", () => {
  const equal: Array<[string, string]> = [
    ["\\dfrac{1}{2}", "0.5"],
    ["1,000", "1000"],
    ["1{,}000", "1000"],
    ["50\\%", "0.5"],
    ["50", "0.5"],
    ["\\frac{\\sqrt{3}}{2}", "0.8660254"],
    ["(1,2)", "(1, 2)"],
    ["10^\\circ", "10"],
    ["12 \\text{ cm}", "12"],
    ["\\frac34", "0.75"],
    ["3/4", "\\frac{3}{4}"],
    ["2\\pi", "6.283185"],
    ["five", "5"],
    ["\\sqrt{8}", "2\\sqrt{2}"],
    ["1.00001", "1"],
  ];
  for (const [a, b] of equal) assert.ok(mathAnswersEqual(a, b), `${a} = ${b}`);
  const different: Array<[string, string]> = [
    ["2", "3"],
    ["x+1", "1+x"],
    ["1.01", "1"],
    ["(1,2)", "(2,1)"],
    ["", ""],
  ];
  for (const [a, b] of different) assert.ok(!mathAnswersEqual(a, b), `${a} ≠ ${b}`);
});

Deno.test("mathAnswer conforms; strict needs \\boxed", () => {
  const example = { id: "1", prompt: "1 + 1 =", reference: "\\frac{1}{2}" };
  testBenchmark(mathAnswer, {
    cases: [
      { example, completion: "so \\boxed{0.5}", expected: 1 },
      { example, completion: "The answer is 1/2.", expected: 1 },
      { example, completion: "The answer is 2.", expected: 0 },
      { example, completion: "", expected: 0 },
    ],
  });
  testBenchmark(mathAnswer, {
    params: { strict: true },
    cases: [
      { example, completion: "so \\boxed{\\dfrac{1}{2}}", expected: 1 },
      { example, completion: "The answer is 1/2.", expected: 0 },
      { example, completion: "0.5", expected: 0 },
    ],
  });
  const spaced = { id: "2", prompt: "2 4 3 + 6 0 6 =", reference: "849" };
  testBenchmark(mathAnswer, {
    params: { strict: true, spaced: true },
    cases: [
      { example: spaced, completion: "3 + 6 + 0 = 0 9 ; \\boxed{ 8 4 9 }", expected: 1 },
      { example: spaced, completion: "3 + 6 + 0 = 0 9 ; A 8 4 9", expected: 0 },
      { example: spaced, completion: "\\boxed{ 8 4 8 }", expected: 0 },
    ],
  });
  testBenchmark(mathAnswer, {
    params: { strict: false, spaced: true },
    cases: [{ example: spaced, completion: "2 + 6 + 0 = 0 8 ; A 8 4 9", expected: 1 }],
  });
});
