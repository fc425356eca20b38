// Property-based tests (fast-check) of the safetensors reader and writer, with fixed seeds: valid
// files are read with the values they hold and round-trip through the writer, files broken in one
// rule of the format are refused, and any bytes at all are read or refused with a CheckpointError.
// The arbitraries are the fuzz command's (commands/fuzz.ts).
import fc from "fast-check";
import assert from "node:assert/strict";
import { parseSafetensors, serializeSafetensors } from "../../backbones/safetensors.ts";
import {
  encodeSafetensors,
  expectedValues,
  type SafetensorsCase,
  safetensorsCaseArbitrary,
  safetensorsSpecArbitrary,
  sameValues,
} from "../../commands/fuzz.ts";

const runs = { seed: 42, numRuns: 300 };

function refusal(read: () => unknown): string | undefined {
  try {
    read();
    return undefined;
  } catch (error) {
    const e = error as { _tag?: string; message: string };
    if (e._tag !== "CheckpointError") throw error;
    if (e.message.includes("\n")) throw new Error(`multi-line message: ${e.message}`);
    return e.message;
  }
}

Deno.test("safetensors property: every valid file is read with the values it holds", () => {
  fc.assert(
    fc.property(safetensorsSpecArbitrary, (spec) => {
      const parsed = parseSafetensors(encodeSafetensors(spec), "p.safetensors");
      assert.equal(parsed.tensors.size, spec.tensors.length);
      // In the order of their data whatever the header order (zero-size tensors at one offset
      // in header order).
      let offset = 0;
      const place = spec.tensors.map((t, i) => {
        const begin = offset;
        offset += t.bytes.length;
        return { name: t.name, begin, end: offset, header: spec.headerOrder.indexOf(i) };
      });
      place.sort((a, b) => a.begin - b.begin || a.end - b.end || a.header - b.header);
      assert.deepEqual([...parsed.tensors.keys()], place.map((p) => p.name));
      for (const t of spec.tensors) {
        const read = parsed.tensors.get(t.name)!;
        assert.equal(read.dtype, t.dtype);
        assert.deepEqual(read.shape, t.shape);
        assert.ok(sameValues(read.data, expectedValues(t)), t.name);
      }
      assert.deepEqual(parsed.metadata, Object.fromEntries(spec.metadata ?? []));
    }),
    runs,
  );
});

Deno.test("safetensors property: read → write → read gives the same tensors and metadata", () => {
  fc.assert(
    fc.property(safetensorsSpecArbitrary, (spec) => {
      const first = parseSafetensors(encodeSafetensors(spec), "p.safetensors");
      const bytes = serializeSafetensors(first.tensors, first.metadata);
      const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assert.equal(length % 8, 0);
      assert.equal(bytes[8], 0x7b);
      const second = parseSafetensors(bytes, "q.safetensors");
      assert.deepEqual(second.metadata, first.metadata);
      assert.deepEqual(new Set(second.tensors.keys()), new Set(first.tensors.keys()));
      for (const [name, t] of first.tensors) {
        const again = second.tensors.get(name)!;
        assert.equal(again.dtype, "F32");
        assert.deepEqual(again.shape, t.shape);
        assert.ok(sameValues(again.data, t.data), name);
      }
      // Writing is deterministic: the same tensors in another order give the same bytes.
      const reversed = new Map([...first.tensors].reverse());
      assert.deepEqual(serializeSafetensors(reversed, first.metadata), bytes);
    }),
    runs,
  );
});

Deno.test("safetensors property: float32 tensors written are read back bit for bit", () => {
  const tensor = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }).chain((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return fc.uint8Array({ minLength: 4 * n, maxLength: 4 * n }).map((bytes) => ({
      shape,
      data: new Float32Array(bytes.buffer),
    }));
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(fc.string({ unit: "binary", maxLength: 6 }), tensor), {
        selector: ([name]) => name,
        maxLength: 5,
      }).map((pairs) => new Map(pairs.filter(([name]) => name !== "__metadata__"))),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ unit: "binary", maxLength: 8 }), {
        maxKeys: 3,
        noNullPrototype: true,
      }),
      (tensors, metadata) => {
        const parsed = parseSafetensors(serializeSafetensors(tensors, metadata), "w");
        assert.deepEqual({ ...parsed.metadata }, { ...metadata });
        assert.equal(parsed.tensors.size, tensors.size);
        for (const [name, t] of tensors) {
          const read = parsed.tensors.get(name)!;
          assert.deepEqual(read.shape, t.shape);
          assert.deepEqual(new Uint32Array(read.data.buffer), new Uint32Array(t.data.buffer));
        }
      },
    ),
    runs,
  );
});

Deno.test("safetensors property: every file broken in one rule is refused", () => {
  fc.assert(
    fc.property(
      safetensorsCaseArbitrary.filter((c) => c.kind === "broken"),
      (c) => {
        const message = refusal(() => parseSafetensors(c.bytes, "b.safetensors"));
        assert.ok(message !== undefined, `accepted a file with ${c.rule}`);
      },
    ),
    { ...runs, numRuns: 1000 },
  );
});

Deno.test("safetensors property: any bytes are read or refused with a CheckpointError", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        safetensorsCaseArbitrary.map((c: SafetensorsCase) => c.bytes),
      ),
      (bytes) => {
        refusal(() => parseSafetensors(bytes, "any.safetensors"));
      },
    ),
    { ...runs, numRuns: 1000 },
  );
});

Deno.test("safetensors property: a lenient reader is caught and its counterexample shrunk", () => {
  // A reader that trusts JSON.parse and checks nothing: the property must find a broken file it
  // accepts, and fast-check must shrink that file to a small one.
  const lenient = (bytes: Uint8Array) => {
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  };
  const details = fc.check(
    fc.property(safetensorsCaseArbitrary.filter((c) => c.kind === "broken"), (c) => {
      let accepted = true;
      try {
        lenient(c.bytes);
      } catch {
        accepted = false;
      }
      if (accepted) throw new Error(`accepted a file with ${c.rule}`);
    }),
    runs,
  );
  assert.ok(details.failed);
  const shrunk = details.counterexample![0] as SafetensorsCase;
  assert.ok(shrunk.bytes.length <= 120, `shrunk to ${shrunk.bytes.length} bytes`);
});
