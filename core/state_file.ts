/**
 * Run state (weights, optimizer moments) saved as one F32 safetensors file, written to a temporary
 * name and renamed, so a file that exists is always complete. Used for the checkpoints of running
 * cells; model checkpoints for users are written by the backbones in the Hugging Face layout.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { CheckpointError } from "./errors.ts";

/**
 * Writes atomically: to `path.tmp-<pid>`, then renames over `path`.
 *
 * @param path The destination.
 * @param data The bytes or text.
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  if (typeof data === "string") await Deno.writeTextFile(tmp, data);
  else await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
}

/**
 * Saves named tensors and JSON metadata.
 *
 * @param path The file.
 * @param tensors Named tensors (read as float32).
 * @param metadata String metadata kept in `__metadata__`.
 */
export async function saveState(
  path: string,
  tensors: ReadonlyArray<readonly [string, tf.Tensor]>,
  metadata: Record<string, string>,
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const values = Float32Array.from(await tensor.data());
    header[name] = {
      dtype: "F32",
      shape: tensor.shape,
      data_offsets: [offset, offset + values.byteLength],
    };
    offset += values.byteLength;
    chunks.push(values);
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((json.length + 8) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + head.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(head.length), true);
  bytes.set(head, 8);
  let at = 8 + head.length;
  for (const chunk of chunks) {
    bytes.set(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), at);
    at += chunk.byteLength;
  }
  await writeAtomic(path, bytes);
}

/** What {@link loadState} returns. */
export interface LoadedState {
  /** Tensors by name (the caller disposes them). */
  readonly tensors: ReadonlyMap<string, tf.Tensor>;
  /** The metadata. */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Reads a file written by {@link saveState}.
 *
 * @param path The file.
 * @returns Tensors and metadata, or a CheckpointError naming the file.
 */
export async function loadState(path: string): Promise<LoadedState> {
  const fail = (what: string) => new CheckpointError({ message: `${path}: ${what}`, file: path });
  const bytes = await Deno.readFile(path);
  if (bytes.length < 8) throw fail("shorter than a header");
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw fail("header runs past the end of the file");
  let header: Record<string, { shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw fail("header is not JSON");
  }
  const base = 8 + headerLength;
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [start, end] = entry.data_offsets;
    if (base + end > bytes.length || start > end) throw fail(`tensor ${name} is out of range`);
    const values = new Float32Array(bytes.slice(base + start, base + end).buffer);
    tensors.set(name, tf.tensor(values, entry.shape, "float32"));
  }
  const metadata = (header.__metadata__ ?? {}) as unknown as Record<string, string>;
  return { tensors, metadata };
}
