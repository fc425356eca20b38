import "../_setup.ts";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import {
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from "../../backbones/safetensors.ts";

function fileOf(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
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
    return e.message;
  }
  throw new Error("expected a CheckpointError");
}

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

Deno.test("safetensors: malformed files give one-line CheckpointErrors naming the fault", () => {
  const ok = serializeSafetensors(new Map([["w", { shape: [2], data: new Float32Array(2) }]]));
  assert.match(messageOf(ok.subarray(0, 5)), /shorter than the 8-byte header length/);
  assert.match(messageOf(ok.subarray(0, 20)), /header length \d+ exceeds/);
  assert.match(
    messageOf(ok.subarray(0, ok.length - 1)),
    /tensor w data_offsets \[0, 8\] fall outside the 7 data bytes/,
  );
  const garbage = new Uint8Array(12);
  new DataView(garbage.buffer).setBigUint64(0, 4n, true);
  garbage.set([123, 34, 97, 0], 8);
  assert.match(messageOf(garbage), /header is not valid JSON/);
  assert.match(
    messageOf(fileOf({ w: { dtype: "I32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))),
    /tensor w has dtype I32; only F32, F16 and BF16 are supported/,
  );
  assert.match(
    messageOf(fileOf({ w: { dtype: "Q4", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))),
    /tensor w has unknown dtype "Q4"/,
  );
  assert.match(
    messageOf(fileOf({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4))),
    /tensor w has 4 bytes, expected 8 for F32 \[2\]/,
  );
  assert.match(
    messageOf(
      fileOf({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      }, new Uint8Array(12)),
    ),
    /tensors a \[0, 8\] and b \[4, 12\] overlap/,
  );
  assert.match(
    messageOf(
      fileOf({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)),
    ),
    /invalid shape/,
  );
});

Deno.test("safetensors: reading a missing file is a CheckpointError naming it", async () => {
  const exit = await Effect.runPromiseExit(readSafetensors("/nonexistent/m.safetensors"));
  assert.ok(Exit.isFailure(exit));
  assert.match(JSON.stringify(exit), /Cannot read \/nonexistent\/m\.safetensors/);
});
