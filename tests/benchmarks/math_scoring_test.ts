import "../_setup.ts";
import assert from "node:assert/strict";
import { testBenchmark } from "../../core/testing.ts";
import {
  extractMathAnswer,
  extractRawMathAnswer,
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
    ["The answer is 1,000.", "1000"],
    ["So the final answer is 12", "12"],
    ["we get 3 apples and then 4.5, 1,234 more", "1234"],
    ["no digits here", null],
    ["\\boxed{x = 5}", "x = 5"],
    ["\\boxed{10^\\circ}", "10"],
    ["\\boxed{12 \\text{ cm}}", "12"],
    ["\\boxed{\\left( 1, 2 \\right)}", "( 1, 2 )"],
    ["\\boxed{3/4}", "3/4"],
    ["\\boxed{ 8 4 9 }", "8 4 9"],
    ["\\boxed{50\\%}", "50\\%"],
    ["answer: \\boxed{-0.50}", "-0.50"],
    // issue 14: the sentence ends the answer; units go
    ["The final answer is 5. I hope it is correct.", "5"],
    ["The answer is 7 apples.", "7"],
    // issue 14: several boxes read together; a matrix outside a box; "32, 349" is two numbers
    ["\\boxed{(2,2)} \\text{ and } \\boxed{(6,2)}", "(2,2), (6,2)"],
    ["$\\boxed{1}\\boxed{2}$", "1, 2"],
    ["The integers are \\boxed{-2} and \\boxed{1}.", "-2, 1"],
    [
      "The identity matrix is $ \\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix} $.",
      "\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}",
    ],
    ["is $\\boxed{32, 349}$", "32, 349"],
    ["The distance is $\\boxed{125\\textnormal{ miles}}.$", "125"],
    // the last number is read with the math span it stands in
    ["Therefore $x \\geq 5$ is the solution.", "x \\geq 5"],
    ["So P(A) = 2/3. <|im_start|>user", "2/3"],
  ];
  for (const [text, expected] of cases) assert.equal(extractMathAnswer(text), expected, text);
});

Deno.test("extractMathAnswer(): the qwen and strict modes on a self-correcting solution", () => {
  const text =
    "The domain is $[-3, 2]$. Final Answer: The final answer is $[-3, 2]$. I hope it is " +
    "correct. I apologize for the mistake. The domain is $\\boxed{(-\\infty, -3] \\cup [2, \\infty)}$.";
  assert.equal(extractMathAnswer(text, "qwen"), "[-3, 2]"); // the first Minerva statement
  assert.equal(extractMathAnswer(text, "strict"), "(-\\infty, -3] \\cup [2, \\infty)"); // the correction
  assert.equal(extractMathAnswer("we get 42", "strict"), null); // no number fallback
  assert.equal(extractMathAnswer("so the answer is 42.", "strict"), "42");
  assert.equal(extractRawMathAnswer("first \\boxed{1} and then, later, \\boxed{2}"), "2");
});

Deno.test("normalizeMathAnswer() rewrites notation and is idempotent", () => {
  const cases: Array<[string, string]> = [
    ["\\text{5 dollars}", "5"],
    ["\\tfrac{3}{4}.", "\\frac{3}{4}"],
    ["k = 7", "k = 7"],
    ["$\\dfrac{1}{2}$.", "\\frac{1}{2}"],
    ["125\\textnormal{ miles}", "125"],
    ["28 pct", "28\\%"],
    ["28 percentage", "28\\%"],
    ["\\$16,\\!386.20", "16386.20"],
    ["12{,}000", "12000"],
    ["32, 349", "32, 349"],
    ["(12,102)", "(12,102)"],
    ["x \\le 5", "x \\leq 5"],
    ["15\\mbox{ cm}^2", "15"],
    ["\\frac{1}{3} \\textbf{meters}", "\\frac{1}{3}"],
    ["{1,3}", "1,3"],
    ["five", "5"],
  ];
  for (const [raw, normal] of cases) assert.equal(normalizeMathAnswer(raw), normal, raw);
  const samples = [
    "x = \\frac{1}{2}, x = 3",
    "\\left( 3, \\frac{\\pi}{2} \\right)",
    "5 \\text{ cm}.",
    "\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}",
    "$\\boxed{28 percent}",
    " .5 ",
    "1,000,000.",
    "\\{1\\pm\\sqrt{5},-2\\}",
  ];
  for (const sample of samples) {
    const once = normalizeMathAnswer(sample);
    assert.equal(normalizeMathAnswer(once), once, `idempotent on ${sample}`);
  }
});

Deno.test("mathAnswersEqual() decides on the Compute Engine: issue 14's examples", () => {
  const cases: Array<[string, string, boolean]> = [
    ["100001", "100000", false], // integers are exact
    ["(0,1]", "(0,1)", false], // brackets are kept
    ["[0,1]", "(0,1)", false],
    ["(p,q)=(3,2)", "(3,2)", true], // a bare value equals names = value
    ["7 = 11a+c", "11a+c", false], // an equation is not its side
    ["x \\leq 5", "5 \\geq x", true],
    ["-793 < a < 10", "(-793, 10)", true], // an inequality equals its interval
    ["(2,2), (6,2)", "(2,2),(6,2)", true],
    ["\\cfrac{1}{3}", "\\frac{1}{3}", true],
    ["28 pct", "28\\%", true],
    ["28 percentage", "28\\%", true],
    ["125\\textnormal{ miles}", "125", true],
    ["32, 349", "32349", false],
    ["x = \\frac{1}{2}, x = 3", "3, \\frac{1}{2}", true],
  ];
  for (const [a, b, want] of cases) assert.equal(mathAnswersEqual(a, b), want, `${a} vs ${b}`);
});

Deno.test("mathAnswersEqual() accepts equivalent forms and rejects others", () => {
  const equal: Array<[string, string]> = [
    ["\\dfrac{1}{2}", "0.5"],
    ["1,000", "1000"],
    ["1{,}000", "1000"],
    ["50\\%", "0.5"],
    ["50\\%", "50"],
    ["\\frac{\\sqrt{3}}{2}", "0.8660254"],
    ["(1,2)", "(1, 2)"],
    ["10^\\circ", "10"],
    ["12 \\text{ cm}", "12"],
    ["\\frac34", "0.75"],
    ["3/4", "\\frac{3}{4}"],
    ["2\\pi", "6.283185"],
    ["five", "5"],
    ["\\sqrt{8}", "2\\sqrt{2}"],
    ["x+1", "1+x"],
    ["\\sec^2(y)", "\\tan^2(y)+1"],
    ["0.33", "\\frac{1}{3}"], // a decimal equals the value it rounds
    ["x < 1", "-x > -1"],
    ["2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}"],
    ["\\{1,2\\}", "\\{2,1\\}"], // sets are unordered
    ["-2, 1", "1, -2"], // so are several answers
    ["x \\in [-2,7]", "-2 \\leq x \\leq 7"],
    ["1 \\pm \\sqrt{19}", "1-\\sqrt{19}, 1+\\sqrt{19}"],
    ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}"],
    ["\\text{Evelyn}", "evelyn"],
    ["\\text{(C)}", "C"],
  ];
  for (const [a, b] of equal) assert.ok(mathAnswersEqual(a, b), `${a} = ${b}`);
  const different: Array<[string, string]> = [
    ["2", "3"],
    ["1.01", "1"],
    ["1.00001", "1"],
    ["0.28", "28"], // no percent sign: not a factor of 100
    ["2800", "28"],
    ["(1,2)", "(2,1)"], // tuples are ordered
    ["(3,1)", "1,3"],
    ["x < 1", "x > -1"],
    ["x+2n+1", "x+1"],
    ["0.5", "0.53"],
    ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}"],
    ["", ""],
  ];
  for (const [a, b] of different) assert.ok(!mathAnswersEqual(a, b), `${a} ≠ ${b}`);
});

Deno.test("mathAnswersEqual(): plain numbers never wait on the CAS; a comparison is time-bounded", () => {
  const started = performance.now();
  for (let i = 0; i < 2000; i++) mathAnswersEqual(String(i), String(i + 1));
  assert.ok(performance.now() - started < 500, "2000 plain comparisons under 0.5 s");
  assert.equal(mathAnswersEqual("x^2 + 1", "1 + x^2", { timeBoundMs: 0 }), false);
  assert.equal(mathAnswersEqual("x^2 + 1", "1 + x^2", { timeBoundMs: 2000 }), true);
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
