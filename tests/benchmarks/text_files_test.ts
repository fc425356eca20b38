/**
 * Data files as people save them: what the common tools (Hugging Face `datasets`, pandas, Python's
 * `json`) load, probsft loads unchanged; what they refuse is refused with the file and the line in
 * one line, never loaded silently altered.
 *
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Effect, Exit } from "effect";
import { DataError } from "../../core/errors.ts";
import { type FileRecords, parseRecords, readRecords } from "../../benchmarks/jsonl/read.ts";
import { decodeText, firstInvalidUtf8 } from "../../benchmarks/jsonl/text.ts";
import { parseJsonValue } from "../../benchmarks/jsonl/json_value.ts";

type Row = Readonly<Record<string, unknown>>;

const dir = await Deno.makeTempDir({ prefix: "probsft-text-" });
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const concat = (...parts: ReadonlyArray<Uint8Array | ReadonlyArray<number>>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const bom = [0xef, 0xbb, 0xbf];
const gzip = async (bytes: Uint8Array): Promise<Uint8Array> =>
  new Uint8Array(
    await new Response(
      new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
        new CompressionStream("gzip"),
      ),
    ).arrayBuffer(),
  );

const write = (name: string, content: string | Uint8Array): string => {
  const path = `${dir}/${name}`;
  Deno.writeFileSync(path, typeof content === "string" ? utf8(content) : content);
  return path;
};
const identity = (r: Row): Row => r;
const needsPrompt = (r: Row): Row | string => typeof r.prompt === "string" ? r : 'missing "prompt"';

const load = (path: string, skipBad = false): Promise<FileRecords<Row>> =>
  Effect.runPromise(readRecords(path, identity, skipBad));
const refused = async (
  path: string,
  convert: (r: Row) => Row | string = identity,
  skipBad = false,
): Promise<DataError> => {
  const exit = await Effect.runPromiseExit(readRecords(path, convert, skipBad));
  assert.ok(Exit.isFailure(exit), `expected ${path} to be refused`);
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert.ok(reason && reason._tag === "Fail");
  const error = reason.error;
  assert.ok(error instanceof DataError);
  assert.ok(!/[\r\n\u2028\u2029]/.test(error.message), `not one line: ${error.message}`);
  assert.ok(error.message.includes(path), `does not name the file: ${error.message}`);
  assert.equal(error.file, path);
  return error;
};

const pair = (i: number): string => JSON.stringify({ prompt: `p${i}`, response: `r${i}` });
const prompts = (read: FileRecords<Row>): unknown[] => read.records.map((r) => r.prompt);

Deno.test("text: a UTF-8 byte-order mark is dropped (JSON Lines and JSON array)", async () => {
  const lines = await load(write("bom.jsonl", concat(bom, utf8(`${pair(1)}\n${pair(2)}\n`))));
  assert.deepEqual(prompts(lines), ["p1", "p2"]);
  assert.deepEqual(Object.keys(lines.records[0]!), ["prompt", "response"]);
  const array = await load(write("bom.json", concat(bom, utf8(`[${pair(1)},\n ${pair(2)}]`))));
  assert.deepEqual(prompts(array), ["p1", "p2"]);
  assert.equal(array.layout, "array");
  // Also when the text already holds it (a caller that decoded without dropping it).
  const parsed = parseRecords("t.jsonl", `\uFEFF${pair(1)}\r\n`, identity, false);
  assert.ok(!(parsed instanceof DataError));
  assert.deepEqual(prompts(parsed), ["p1"]);
  // Only at the start: one inside the file (two files concatenated) is refused with its line.
  const inner = write("inner.jsonl", concat(utf8(`${pair(1)}\n`), bom, utf8(`${pair(2)}\n`)));
  const error = await refused(inner);
  assert.equal(error.line, 2);
  assert.match(error.message, /line 2: not valid JSON \(unexpected U\+FEFF \(a byte-order mark\)/);
  const empty = await refused(write("bom-only.jsonl", new Uint8Array(bom)));
  assert.match(empty.message, /the file is empty/);
});

Deno.test("text: CRLF, CR, no final newline, blank and whitespace-only lines load", async () => {
  const crlf = await load(write("crlf.jsonl", `${pair(1)}\r\n\r\n  \t \r\n${pair(2)}`));
  assert.deepEqual(prompts(crlf), ["p1", "p2"]);
  assert.equal(crlf.records[1]!.response, "r2", "no stray \\r in the values");
  const cr = await load(write("cr.jsonl", `${pair(1)}\r${pair(2)}\r`));
  assert.deepEqual(prompts(cr), ["p1", "p2"]);
  const noFinal = await load(write("nofinal.jsonl", `${pair(1)}\n${pair(2)}`));
  assert.deepEqual(prompts(noFinal), ["p1", "p2"]);
  // Line numbers are the 1-based physical lines, blank ones counted.
  const bad = write("crlf-bad.jsonl", `${pair(1)}\r\n\r\n   \r\n{"response": "x"}\r\n${pair(5)}`);
  const error = await refused(bad, needsPrompt);
  assert.equal(error.line, 4);
  assert.match(error.message, /crlf-bad\.jsonl line 4: missing "prompt"/);
  const skipped = await Effect.runPromise(readRecords(bad, needsPrompt, true));
  assert.deepEqual(skipped.skipped.map((s) => s.line), [4]);
  assert.deepEqual(prompts(skipped), ["p1", "p5"]);
  const crLines = write("cr-bad.jsonl", `${pair(1)}\r\r{"prompt": 1,\r`);
  assert.equal((await refused(crLines)).line, 3);
  const empty = await refused(write("blank.jsonl", "\r\n \t\r\n\n"));
  assert.match(empty.message, /blank\.jsonl: the file is empty/);
  assert.match((await refused(write("zero.jsonl", ""))).message, /the file is empty/);
  assert.match((await refused(write("zero.json", " \n"))).message, /the file is empty/);
});

Deno.test("text: invalid UTF-8 is refused with the line and byte offset, never replaced", async () => {
  const latin1 = concat(utf8(`${pair(1)}\n${pair(2)}\n{"prompt": "caf`), [0xe9], utf8(`"}\n`));
  const path = write("latin1.jsonl", latin1);
  const error = await refused(path);
  assert.equal(error.line, 3);
  const offset = latin1.indexOf(0xe9);
  assert.equal(
    error.message,
    `Cannot load ${path} line 3: not valid UTF-8 (byte E9 at byte offset ${offset}); save the file as UTF-8`,
  );
  // skipBad does not apply: the text itself is not what the file says.
  await refused(path, identity, true);
  // The kinds: overlong, surrogate, above U+10FFFF, lone continuation, truncated at the end.
  const kinds: ReadonlyArray<readonly [ReadonlyArray<number>, number]> = [
    [[0xc0, 0x80], 0],
    [[0xed, 0xa0, 0x80], 0],
    [[0xf4, 0x90, 0x80, 0x80], 0],
    [[0x80], 0],
    [[0x41, 0xe2, 0x82], 1],
    [[0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80], -1],
  ];
  for (const [bytes, at] of kinds) {
    assert.equal(firstInvalidUtf8(new Uint8Array(bytes)), at, JSON.stringify(bytes));
  }
  const cut = await refused(write("cut.json", concat(utf8('[{"prompt": "'), [0xe2, 0x82])));
  assert.match(cut.message, /line 1: not valid UTF-8 \(byte E2 at byte offset 13\)/);
  // Multi-byte UTF-8 loads exactly.
  const ok = await load(write("utf8.jsonl", JSON.stringify({ prompt: "café € 😀 \u2028" })));
  assert.equal(ok.records[0]!.prompt, "café € 😀 \u2028");
});

Deno.test("text: UTF-16 and UTF-32 files are refused: save as UTF-8", async () => {
  const text = `${pair(1)}\r\n`;
  const le = new Uint8Array(2 + text.length * 2);
  const be = new Uint8Array(2 + text.length * 2);
  le.set([0xff, 0xfe]);
  be.set([0xfe, 0xff]);
  for (let i = 0; i < text.length; i++) {
    le[2 + 2 * i] = text.charCodeAt(i);
    be[3 + 2 * i] = text.charCodeAt(i);
  }
  const lePath = write("utf16le.jsonl", le);
  assert.equal(
    (await refused(lePath)).message,
    `Cannot load ${lePath}: the file is UTF-16 (byte-order mark FF FE); save it as UTF-8`,
  );
  assert.match(
    (await refused(write("utf16be.json", be))).message,
    /UTF-16 \(byte-order mark FE FF\)/,
  );
  const noMark = await refused(write("utf16-nobom.jsonl", le.subarray(2)));
  assert.match(noMark.message, /looks like UTF-16LE without a byte-order mark; save it as UTF-8/);
  const utf32 = await refused(
    write("utf32.jsonl", new Uint8Array([0xff, 0xfe, 0, 0, 0x7b, 0, 0, 0])),
  );
  assert.match(utf32.message, /UTF-32 \(byte-order mark FF FE 00 00\); save it as UTF-8/);
});

Deno.test("text: the layout is read from the content, as datasets does", async () => {
  // JSON Lines in a .json file.
  const linesInJson = await load(write("lines.json", `${pair(1)}\n${pair(2)}\n`));
  assert.deepEqual(prompts(linesInJson), ["p1", "p2"]);
  assert.equal(linesInJson.layout, "lines");
  // One JSON array in a .jsonl file, on one line or pretty-printed.
  const oneLine = await load(write("array1.jsonl", `[${pair(1)}, ${pair(2)}]\n`));
  assert.deepEqual(prompts(oneLine), ["p1", "p2"]);
  assert.equal(oneLine.layout, "array");
  const pretty = JSON.stringify([{ prompt: "p1" }, { prompt: "p2" }], null, 2);
  assert.deepEqual(prompts(await load(write("array2.jsonl", pretty))), ["p1", "p2"]);
  // A one-line object is one record of JSON Lines in a .jsonl file...
  assert.deepEqual(prompts(await load(write("one.jsonl", pair(1)))), ["p1"]);
  // ... but in a .json file, or pretty-printed anywhere, it is a wrapper, refused with its keys.
  const squad = JSON.stringify({ version: "1.1", data: [{ prompt: "p1" }] });
  const wrapped = await refused(write("squad.json", squad));
  assert.equal(
    wrapped.message,
    `Cannot load ${dir}/squad.json: expected a JSON array of records or one JSON object per line, ` +
      `found one object with keys "version", "data"; the records may be the list under "data": ` +
      `save that list alone as a JSON array or as JSON Lines`,
  );
  const prettyObject = await refused(
    write("pretty.jsonl", JSON.stringify({ prompt: "p", response: "r" }, null, 2)),
  );
  assert.match(prettyObject.message, /found one object with keys "prompt", "response"$/);
  assert.match((await refused(write("scalar.json", "42\n"))).message, /found a number$/);
  // JSON Lines whose lines are not objects: each such line is a bad record.
  const arrays = await refused(write("arrays.jsonl", `[1, 2]\n${pair(2)}\n`));
  assert.match(arrays.message, /arrays\.jsonl line 1: expected a JSON object/);
  // A syntax error in a multi-line JSON document names its line and column.
  const broken = write("broken.json", `[\n  ${pair(1)},\n  {"prompt": "p2" "response": "r"}\n]`);
  const syntax = await refused(broken);
  assert.equal(syntax.line, 3);
  assert.match(
    syntax.message,
    /broken\.json line 3: not valid JSON \(unexpected '"', expected ','/,
  );
  // Array elements that are not objects are numbered records, skippable.
  const mixed = write("mixed.json", `[${pair(1)}, 7, ${pair(3)}]`);
  assert.match((await refused(mixed)).message, /mixed\.json record 2: expected a JSON object/);
  assert.deepEqual((await load(mixed, true)).skipped, [{
    line: 2,
    reason: "expected a JSON object",
  }]);
});

Deno.test("text: NaN and ±Infinity load as numbers (pyarrow, pandas, Python's json)", async () => {
  const text = `{"prompt": "p", "score": NaN, "hi": Infinity, "lo": -Infinity, "n": [NaN]}\n`;
  const read = await load(write("nan.jsonl", text));
  const record = read.records[0]!;
  assert.ok(Number.isNaN(record.score));
  assert.equal(record.hi, Infinity);
  assert.equal(record.lo, -Infinity);
  assert.ok(Number.isNaN((record.n as unknown[])[0]));
  const array = await load(write("nan.json", `[{"prompt": "p", "x": NaN}]`));
  assert.ok(Number.isNaN(array.records[0]!.x));
  // Spellings none of them accepts stay refused.
  for (const bad of ["nan", "-NaN", "inf", "+Infinity", "Infinite"]) {
    const error = await refused(write("bad-nan.jsonl", `{"prompt": "p", "x": ${bad}}\n`));
    assert.match(error.message, /line 1: not valid JSON/, bad);
  }
});

Deno.test("text: gzip files are decompressed; other archives are named", async () => {
  const body = utf8(`${pair(1)}\r\n${pair(2)}\n`);
  assert.deepEqual(prompts(await load(write("data.jsonl.gz", await gzip(body)))), ["p1", "p2"]);
  const array = utf8(JSON.stringify([{ prompt: "a" }, { prompt: "b" }]));
  assert.deepEqual(prompts(await load(write("data.json.gz", await gzip(array)))), ["a", "b"]);
  const withBom = await gzip(concat(bom, body));
  assert.deepEqual(prompts(await load(write("bom.jsonl.gz", withBom))), ["p1", "p2"]);
  // A single object in a .json.gz is a wrapper, as in a .json.
  await refused(write("one.json.gz", await gzip(utf8(pair(1)))));
  const zipped = await gzip(body);
  const truncated = await refused(write("cut.jsonl.gz", zipped.subarray(0, zipped.length - 12)));
  assert.match(truncated.message, /cut\.jsonl\.gz: the gzip data is corrupt or truncated/);
  const badUtf8 = await refused(write("latin1.jsonl.gz", await gzip(new Uint8Array([0x7b, 0xe9]))));
  assert.match(badUtf8.message, /line 1: not valid UTF-8 \(byte E9 at byte offset 1\)/);
  const zip = await refused(write("data.zip", new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0])));
  assert.match(zip.message, /is a zip archive; decompress it first/);
});

Deno.test("text: control characters and truncated lines are refused with the line", async () => {
  const nul = write("nul.jsonl", `${pair(1)}\n${pair(2)}\u0000\n${pair(3)}\n`);
  const error = await refused(nul);
  assert.equal(error.line, 2);
  assert.match(
    error.message,
    /nul\.jsonl line 2: not valid JSON \(unexpected U\+0000 after the value/,
  );
  const ctrl = await refused(write("ctrl.jsonl", `${pair(1)}\n\u001a\n`));
  assert.match(ctrl.message, /line 2: not valid JSON \(unexpected U\+001A, expected a value/);
  const inString = await refused(write("tab.jsonl", `{"prompt": "a\tb"}\n`));
  assert.match(inString.message, /line 1: not valid JSON \(unescaped control character U\+0009/);
  const nbsp = await refused(write("nbsp.jsonl", `${pair(1)}\n\u00a0\n`));
  assert.equal(nbsp.line, 2);
  // A truncated last line (no closing brace): refused, or skipped under skipBad.
  const cut = write("truncated.jsonl", `${pair(1)}\n${pair(2)}\n{"prompt": "p3", "resp`);
  const truncated = await refused(cut);
  assert.equal(truncated.line, 3);
  assert.match(truncated.message, /truncated\.jsonl line 3: not valid JSON \(unterminated string/);
  const skipped = await load(cut, true);
  assert.deepEqual(prompts(skipped), ["p1", "p2"]);
  assert.equal(skipped.skipped[0]!.line, 3);
  const cutArray = await refused(write("truncated.json", `[\n${pair(1)},\n${pair(2)}`));
  assert.equal(cutArray.line, 3);
  assert.match(cutArray.message, /unexpected end of input, expected ',' or '\]'/);
  // The string escapes that JSON allows are decoded, as JSON.parse does.
  const escaped = await load(write("esc.jsonl", `{"prompt": "a\\u0000\\n\\"\\u00e9", "x": NaN}`));
  assert.equal(escaped.records[0]!.prompt, 'a\u0000\n"é');
});

Deno.test("text: decodeText keeps UTF-8 text unchanged", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme" }), (text) => {
      const decoded = decodeText("f.jsonl", utf8(text));
      if (decoded instanceof DataError) {
        // Only a leading NUL pattern may be read as UTF-16 without a mark.
        assert.match(decoded.message, /UTF-16/);
        return;
      }
      assert.equal(decoded, text.startsWith("\uFEFF") ? text.slice(1) : text);
    }),
  );
});

Deno.test("text: the fallback JSON parser agrees with JSON.parse on standard JSON", () => {
  const agree = (text: string): void => {
    let native: { value: unknown } | undefined;
    try {
      native = { value: JSON.parse(text) };
    } catch {
      native = undefined;
    }
    const ours = parseJsonValue(text);
    if (native) assert.deepEqual(ours, native, text);
    else if ("value" in ours) {
      // Accepted only through the NaN/Infinity extension.
      assert.match(text, /NaN|Infinity/, `accepted ${JSON.stringify(text)}`);
    }
  };
  const json = fc.json({ maxDepth: 3 });
  const mutated = fc.tuple(json, fc.nat(), fc.string({ maxLength: 3 }), fc.nat({ max: 3 }))
    .map(([text, at, insert, cut]) => {
      const i = text.length === 0 ? 0 : at % text.length;
      return text.slice(0, i) + insert + text.slice(i + cut);
    });
  fc.assert(fc.property(fc.oneof(json, mutated), agree), { numRuns: 2000 });
  // The fallback itself (JSON.parse bypassed through a NaN elsewhere) decodes the same values.
  fc.assert(
    fc.property(json, (text) => {
      const ours = parseJsonValue(`[NaN, ${text}]`);
      assert.ok("value" in ours);
      assert.deepEqual((ours.value as unknown[])[1], JSON.parse(text));
    }),
  );
  const proto = parseJsonValue('{"__proto__": {"x": 1}, "y": NaN}');
  assert.ok("value" in proto);
  assert.deepEqual(Object.keys(proto.value as object), ["__proto__", "y"]);
  assert.equal(Object.getPrototypeOf(proto.value), Object.prototype);
  const deep = parseJsonValue("[".repeat(200_000));
  assert.ok("error" in deep);
});

Deno.test("text: cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
