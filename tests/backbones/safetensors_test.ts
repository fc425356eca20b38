import "../_setup.ts";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import {
  maxHeaderBytes,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from "../../backbones/safetensors.ts";

/** A file from a header (raw JSON text, so that duplicate keys can be written) and data bytes. */
function fileOf(
  header: Record<string, unknown> | string,
  data: Uint8Array = new Uint8Array(0),
  pad = "",
): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text + pad);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function messageOf(bytes: Uint8Array): string {
  try {
    parseSafetensors(bytes, "x.safetensors");
  } catch (error) {
    const e = error as { _tag: string; message: string; file: string };
    assert.equal(e._tag, "CheckpointError");
    assert.equal(e.file, "x.safetensors");
    assert.ok(!e.message.includes("\n"));
    assert.ok(e.message.startsWith("Cannot read x.safetensors: "), e.message);
    return e.message;
  }
  throw new Error("expected a CheckpointError");
}

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, end],
});

Deno.test("safetensors: write then read round-trips bit-exactly with metadata", async () => {
  const dir = await Deno.makeTempDir();
  const values = new Float32Array([1.5, -0, NaN, 3.4028234663852886e38, 1e-45, -2]);
  const tensors = new Map([
    ["a.weight", { shape: [2, 3], data: values }],
    ["b", { shape: [], data: new Float32Array([7]) }],
  ]);
  await Effect.runPromise(writeSafetensors(`${dir}/m.safetensors`, tensors, { format: "pt" }));
  const bytes = await Deno.readFile(`${dir}/m.safetensors`);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0);
  const read = await Effect.runPromise(readSafetensors(`${dir}/m.safetensors`));
  assert.deepEqual(read.metadata, { format: "pt" });
  assert.deepEqual([...read.tensors.keys()], ["a.weight", "b"]);
  const a = read.tensors.get("a.weight")!;
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(new Uint32Array(a.data.buffer), new Uint32Array(values.buffer));
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["m.safetensors"]);
});

// Byte-exact outputs of the reference writer (huggingface/safetensors, safetensors/src/tensor.rs,
// tests test_serialization, test_serialization_forced_alignement and test_empty): our reader
// accepts them and our writer reproduces them byte for byte.
const referenceFloats = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0];
const referenceVectors: { name: string; bytes: number[]; tensors: Map<string, number[]> }[] = [
  {
    name: "attn.0 [1,2,3]",
    bytes: [
      64,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...new TextEncoder().encode(
        '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}',
      ),
      ...referenceFloats,
      160,
      64,
    ],
    tensors: new Map([["attn.0", [1, 2, 3]]]),
  },
  {
    name: "attn0 [1,1,2,3] with forced alignment",
    bytes: [
      72,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...new TextEncoder().encode(
        '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ',
      ),
      ...referenceFloats,
      160,
      64,
    ],
    tensors: new Map([["attn0", [1, 1, 2, 3]]]),
  },
  {
    name: "empty",
    bytes: [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32],
    tensors: new Map(),
  },
];

Deno.test("safetensors: the reference writer's test vectors are read and rewritten byte for byte", () => {
  for (const vector of referenceVectors) {
    const bytes = new Uint8Array(vector.bytes);
    const parsed = parseSafetensors(bytes, vector.name);
    assert.deepEqual(parsed.metadata, {});
    const tensors = new Map(
      [...vector.tensors].map(([name, shape]) => {
        const t = parsed.tensors.get(name)!;
        assert.deepEqual(t.shape, shape, vector.name);
        assert.deepEqual([...t.data], [0, 1, 2, 3, 4, 5], vector.name);
        return [name, { shape, data: t.data }];
      }),
    );
    assert.equal(parsed.tensors.size, vector.tensors.size);
    assert.deepEqual(serializeSafetensors(tensors), bytes, vector.name);
  }
  const withMetadata = serializeSafetensors(new Map(), { framework: "pt" });
  assert.deepEqual(
    withMetadata,
    new Uint8Array([
      40,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...new TextEncoder().encode(
        '{"__metadata__":{"framework":"pt"}}     ',
      ),
    ]),
  );
  assert.deepEqual(parseSafetensors(withMetadata, "m").metadata, { framework: "pt" });
});

Deno.test("safetensors: F16 and BF16 are read into float32", () => {
  const data = new Uint8Array(8);
  const view = new DataView(data.buffer);
  view.setUint16(0, 0x3c00, true); // f16 1.0
  view.setUint16(2, 0xc000, true); // f16 -2.0
  view.setUint16(4, 0x3fc0, true); // bf16 1.5
  view.setUint16(6, 0x0001, true); // bf16 tiny subnormal
  const parsed = parseSafetensors(
    fileOf({
      h: { dtype: "F16", shape: [2], data_offsets: [0, 4] },
      b: { dtype: "BF16", shape: [2], data_offsets: [4, 8] },
    }, data),
    "x",
  );
  assert.deepEqual([...parsed.tensors.get("h")!.data], [1, -2]);
  const b = parsed.tensors.get("b")!.data;
  assert.equal(b[0], 1.5);
  assert.equal(new Uint32Array(b.buffer)[1], 0x00010000);
});

Deno.test("safetensors: what the format allows is accepted", () => {
  // Tensors listed in any header order, zero-size tensors (also two at one offset), scalars,
  // spaces after the closing brace, whitespace inside the JSON, escaped names, no tensors at all.
  const data = new Uint8Array(12);
  const parsed = parseSafetensors(
    fileOf(
      '{ "b" : {"dtype":"F32","shape":[2],"data_offsets":[4,12]},\n' +
        '"\\u0061":{"shape":[],"data_offsets":[0,4],"dtype":"F32"},' +
        '"z1":{"dtype":"F16","shape":[0,3],"data_offsets":[4,4]},' +
        '"z2":{"dtype":"BF16","shape":[5,0],"data_offsets":[4,4]},' +
        '"__metadata__":{"format":"pt","":"","__proto__":"x"} }',
      data,
      "   ",
    ),
    "x",
  );
  assert.deepEqual([...parsed.tensors.keys()], ["a", "z1", "z2", "b"]); // data order
  assert.deepEqual(parsed.tensors.get("a")!.shape, []);
  assert.equal(parsed.tensors.get("z2")!.data.length, 0);
  assert.deepEqual(Object.entries(parsed.metadata), [["format", "pt"], ["", ""], [
    "__proto__",
    "x",
  ]]);
  assert.equal(parseSafetensors(fileOf("{}"), "x").tensors.size, 0);
  // A dtype probsft does not read is fine when it is not asked for.
  const mixed = fileOf(
    { i: { dtype: "I32", shape: [1], data_offsets: [0, 4] }, w: f32([1], 4, 8) },
    new Uint8Array(8),
  );
  assert.deepEqual([...parseSafetensors(mixed, "x", new Set(["w"])).tensors.keys()], ["w"]);
});

Deno.test("safetensors: each rule of the format refuses with a one-line CheckpointError", () => {
  const ok = serializeSafetensors(new Map([["w", { shape: [2], data: new Float32Array(2) }]]));
  const four = new Uint8Array(4);
  const cases: [string, Uint8Array, RegExp][] = [
    ["short file", ok.subarray(0, 5), /file of 5 bytes is shorter than the 8-byte header length/],
    ["header past the end", ok.subarray(0, 20), /header length \d+ exceeds the 12 bytes after it/],
    [
      "header over the limit",
      (() => {
        const b = fileOf("{}");
        new DataView(b.buffer).setBigUint64(0, BigInt(maxHeaderBytes + 1), true);
        return b;
      })(),
      /header length 100000001 exceeds the format's limit of 100000000/,
    ],
    [
      "header of 2^64 - 1",
      (() => {
        const b = fileOf("{}");
        new DataView(b.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
        return b;
      })(),
      /header length 18446744073709551615 exceeds the format's limit/,
    ],
    [
      "truncated data",
      ok.subarray(0, ok.length - 1),
      /tensor w data_offsets \[0, 8\] fall outside the 7 data bytes/,
    ],
    [
      "not UTF-8",
      fileOf('{"a":1}').fill(0xff, 10, 11), // the "a" becomes a lone 0xff byte
      /header is not valid UTF-8/,
    ],
    [
      "invalid JSON",
      fileOf('{"a\u0000'),
      /header is not valid JSON \(control character in a string at character 3\)/,
    ],
    [
      "not JSON at all",
      fileOf("{nope}"),
      /header is not valid JSON \(expected a string key at character 1\)/,
    ],
    ["leading space", fileOf(" {}"), /header begins with " ", not "\{" as the format requires/],
    [
      "byte order mark",
      fileOf("\uFEFF{}"),
      /header begins with "\\ufeff"|header begins with "\uFEFF"/,
    ],
    ["an array header", fileOf("[]"), /header begins with "\["/],
    ["empty header", fileOf(""), /header begins with nothing/],
    [
      "newline padding",
      fileOf("{}", undefined, "  \n"),
      /header has "\\n" after its closing brace at character 4; only spaces \(0x20\) may pad it/,
    ],
    [
      "NUL padding",
      fileOf("{}", undefined, "\u0000"),
      /header has "\\u0000" after its closing brace/,
    ],
    ["two JSON values", fileOf("{}{}"), /header has "\{" after its closing brace/],
    [
      "nesting",
      fileOf(`{"__metadata__":${"[".repeat(300)}${"]".repeat(300)}}`),
      /nesting deeper than 128/,
    ],
    [
      "lone surrogate",
      fileOf('{"\\ud800":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'),
      /lone surrogate in a string/,
    ],
    [
      "metadata holding a number",
      fileOf({ __metadata__: { format: "pt", n: 1 } }),
      /__metadata__ "n" is 1, not a string/,
    ],
    [
      "metadata holding an object",
      fileOf({ __metadata__: { o: { a: "b" } } }),
      /__metadata__ "o" is \{"a":"b"\}, not a string/,
    ],
    [
      "metadata holding null",
      fileOf({ __metadata__: { o: null } }),
      /__metadata__ "o" is null, not a string/,
    ],
    [
      "metadata not an object",
      fileOf({ __metadata__: "pt" }),
      /__metadata__ is "pt", not an object/,
    ],
    [
      "the same tensor name twice",
      fileOf(`{"w":${JSON.stringify(f32([1], 0, 4))},"w":${JSON.stringify(f32([1], 0, 4))}}`, four),
      /header names tensor w twice/,
    ],
    [
      "the same name, escaped",
      fileOf(
        `{"w":${JSON.stringify(f32([1], 0, 4))},"\\u0077":${JSON.stringify(f32([0], 4, 4))}}`,
        four,
      ),
      /header names tensor w twice/,
    ],
    [
      "__metadata__ twice",
      fileOf('{"__metadata__":{},"__metadata__":{}}'),
      /header has __metadata__ twice/,
    ],
    [
      "a metadata key twice",
      fileOf('{"__metadata__":{"a":"1","a":"2"}}'),
      /__metadata__ has key "a" twice/,
    ],
    [
      "a tensor key twice",
      fileOf('{"w":{"dtype":"F32","dtype":"F16","shape":[0],"data_offsets":[0,0]}}'),
      /tensor w has key "dtype" twice/,
    ],
    ["tensor not an object", fileOf({ w: [1] }), /tensor w is \[1\], not an object/],
    ["missing dtype", fileOf({ w: { shape: [0], data_offsets: [0, 0] } }), /tensor w has no dtype/],
    [
      "unknown key",
      fileOf({ w: { ...f32([1], 0, 4), extra: 1 } }, four),
      /tensor w has unknown key "extra"/,
    ],
    [
      "unknown dtype",
      fileOf({ w: { dtype: "Q4", shape: [1], data_offsets: [0, 4] } }, four),
      /tensor w has unknown dtype "Q4"/,
    ],
    [
      "lower-case dtype",
      fileOf({ w: { dtype: "f32", shape: [1], data_offsets: [0, 4] } }, four),
      /unknown dtype "f32"/,
    ],
    [
      "unreadable dtype",
      fileOf({ w: { dtype: "I32", shape: [1], data_offsets: [0, 4] } }, four),
      /tensor w has dtype I32; only F32, F16 and BF16 are supported/,
    ],
    [
      "negative dimension",
      fileOf({ w: f32([-1], 0, 4) }, four),
      /tensor w has invalid shape \[-1\]/,
    ],
    [
      "fractional dimension",
      fileOf('{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', four),
      /invalid shape \[1\.0\]/,
    ],
    [
      "exponent dimension",
      fileOf('{"w":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}', four),
      /invalid shape \[1e0\]/,
    ],
    [
      "string dimension",
      fileOf({ w: f32(["1" as unknown as number], 0, 4) }, four),
      /invalid shape \["1"\]/,
    ],
    [
      "huge dimension",
      fileOf('{"w":{"dtype":"F32","shape":[9007199254740993,0],"data_offsets":[0,0]}}'),
      /invalid shape \[9007199254740993,0\]/,
    ],
    [
      "shape overflowing u64",
      fileOf({ w: f32([2 ** 32, 2 ** 32, 2 ** 32], 0, 4) }, four),
      /tensor w has shape \[4294967296,4294967296,4294967296\] whose element count overflows 64 bits/,
    ],
    [
      "partial byte",
      fileOf({ w: { dtype: "F4", shape: [3], data_offsets: [0, 1] } }, new Uint8Array(1)),
      /tensor w of F4 \[3\] does not fill a whole number of bytes/,
    ],
    [
      "one offset",
      fileOf({ w: { dtype: "F32", shape: [1], data_offsets: [0] } }, four),
      /tensor w has invalid data_offsets \[0\]/,
    ],
    ["negative offset", fileOf({ w: f32([1], -4, 0) }, four), /invalid data_offsets \[-4,0\]/],
    [
      "end before begin",
      fileOf({ w: f32([1], 4, 0) }, four),
      /tensor w data_offsets \[4, 0\] end before they begin/,
    ],
    [
      "byte size",
      fileOf({ w: f32([2], 0, 4) }, four),
      /tensor w has 4 bytes, expected 8 for F32 \[2\]/,
    ],
    [
      "overlap",
      fileOf({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, new Uint8Array(12)),
      /tensors a \[0, 8\] and b \[4, 12\] overlap/,
    ],
    [
      "a gap between tensors",
      fileOf({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, new Uint8Array(12)),
      /tensor b data_offsets \[8, 12\] leave a gap: data bytes 4 to 8 belong to no tensor/,
    ],
    [
      "a gap before the first tensor",
      fileOf({ b: f32([1], 4, 8) }, new Uint8Array(8)),
      /tensor b data_offsets \[4, 8\] leave a gap: data bytes 0 to 4 belong to no tensor/,
    ],
    [
      "trailing bytes no tensor covers",
      fileOf({ a: f32([1], 0, 4) }, new Uint8Array(7)),
      /data bytes 4 to 7 belong to no tensor \(trailing bytes after tensor a\)/,
    ],
    [
      "data without tensors",
      fileOf("{}", four),
      /data bytes 0 to 4 belong to no tensor \(the header has none\)/,
    ],
    [
      "a name with spaces is quoted",
      fileOf({ "a b": f32([1], 0, 8) }, new Uint8Array(8)),
      /tensor "a b" has 8 bytes/,
    ],
  ];
  for (const [what, bytes, expected] of cases) assert.match(messageOf(bytes), expected, what);
});

Deno.test("safetensors: the writer lays tensors out by name and refuses what the format cannot hold", () => {
  const bytes = serializeSafetensors(
    new Map([
      ["b", { shape: [1], data: new Float32Array([2]) }],
      ["__proto__", { shape: [1], data: new Float32Array([3]) }],
      ["10", { shape: [0], data: new Float32Array(0) }],
      ["a", { shape: [2], data: new Float32Array([0, 1]) }],
    ]),
    { z: "1", a: "2" },
  );
  const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(length % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  assert.equal(
    header.trimEnd(),
    '{"__metadata__":{"a":"2","z":"1"},"10":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},' +
      '"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},' +
      '"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}',
  );
  const parsed = parseSafetensors(bytes, "x");
  assert.deepEqual([...parsed.tensors.keys()], ["10", "__proto__", "a", "b"]);
  assert.deepEqual([...parsed.tensors.get("__proto__")!.data], [3]);
  const one = (shape: number[], n = 1) => new Map([["w", { shape, data: new Float32Array(n) }]]);
  const refusals: [() => unknown, RegExp][] = [
    [
      () => serializeSafetensors(one([1]), { n: 1 as unknown as string }),
      /Metadata "n" is a number; safetensors metadata values must be strings/,
    ],
    [
      () => serializeSafetensors(one([1]), { o: {} as unknown as string }),
      /Metadata "o" is a object/,
    ],
    [
      () => serializeSafetensors(one([-1])),
      /Tensor w has shape \[-1\]; dimensions must be integers >= 0/,
    ],
    [() => serializeSafetensors(one([1.5])), /Tensor w has shape \[1\.5\]/],
    [() => serializeSafetensors(one([NaN])), /Tensor w has shape \[null\]/],
    [() => serializeSafetensors(one([3], 2)), /Tensor w has 2 values for shape \[3\]/],
    [
      () =>
        serializeSafetensors(
          new Map([["__metadata__", { shape: [0], data: new Float32Array(0) }]]),
        ),
      /cannot be named "__metadata__"/,
    ],
    [
      () => serializeSafetensors(new Map([["\ud800", { shape: [0], data: new Float32Array(0) }]])),
      /lone surrogate/,
    ],
  ];
  for (const [write, expected] of refusals) {
    assert.throws(write, (e: Error) => e instanceof RangeError && expected.test(e.message));
  }
});

Deno.test("safetensors: reading a missing file is a CheckpointError naming it", async () => {
  const exit = await Effect.runPromiseExit(readSafetensors("/nonexistent/m.safetensors"));
  assert.ok(Exit.isFailure(exit));
  assert.match(JSON.stringify(exit), /Cannot read \/nonexistent\/m\.safetensors/);
});
