// `deno task probe` as a user runs it, on the default backend with and without OpenBLAS (where the
// machine has it), against the cpu reference backend: the same figures to float32 tolerance.
import assert from "node:assert/strict";
import { assertClose, blasVariants, okJson, runTask } from "./_run.ts";

interface ProbeResult {
  meanP: number;
  shareAbove055: number;
  percentiles: Record<string, number>;
  tokens: number;
  regime: string;
  recommendation: string[];
  reason: string;
}

const backbone = '{"id":"transformer","params":{"dModel":16,"nLayers":1,"nHeads":2,"dMlp":32}}';
const domain = '{"id":"math","params":{"sftExamples":64,"testItems":8,"corpusDocuments":16}}';

Deno.test("deno task probe --json: an unpretrained model is model-weak; wasm (± OpenBLAS) = cpu", async () => {
  const cache = await Deno.makeTempDir({ prefix: "probsft-probe-" });
  try {
    const args = ["probe", "--backbone", backbone, "--domain", domain, "--cache", cache, "--json"];
    const reference = okJson<ProbeResult>(await runTask([...args, "--backend", "cpu"]));
    assert.ok(reference.tokens > 0, `tokens ${reference.tokens}`);
    assert.ok(reference.meanP > 0 && reference.meanP < 0.1, `mean p ${reference.meanP}`);
    assert.equal(reference.regime, "model-weak");
    assert.deepEqual(reference.recommendation, ["neg-log-prob"]);
    assert.equal(reference.shareAbove055, 0);
    const qs = Object.keys(reference.percentiles).map(Number).sort((a, b) => a - b);
    assert.equal(qs[0], 0);
    assert.equal(qs.at(-1), 100);
    for (let i = 1; i < qs.length; i++) {
      assert.ok(
        reference.percentiles[String(qs[i])]! >= reference.percentiles[String(qs[i - 1])]!,
        "percentiles ascend",
      );
    }
    for (const variant of blasVariants) {
      const result = okJson<ProbeResult>(await runTask(args, variant.env));
      assert.equal(result.tokens, reference.tokens, variant.name);
      assert.equal(result.regime, reference.regime, variant.name);
      assertClose(result.meanP, reference.meanP, 1e-5, `${variant.name} mean p`);
      assertClose(result.shareAbove055, reference.shareAbove055, 1e-6, `${variant.name} share`);
      for (const q of qs) {
        assertClose(
          result.percentiles[String(q)]!,
          reference.percentiles[String(q)]!,
          1e-5,
          `${variant.name} p${q}`,
        );
      }
    }
    // The text form says the same.
    const text = await runTask(args.filter((a) => a !== "--json"));
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /likelihood estimate \(Eq\. 5, mean p, targets not forced\): 0\.0\d{3}/,
    );
    assert.match(text.stdout, /continuum position: model-weak/);
    assert.match(text.stdout, /recommended objectives: neg-log-prob/);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
