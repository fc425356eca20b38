/**
 * Files that must never be seen half-written. {@link writeAtomic} writes to a temporary name in
 * the same folder, flushes it to the disk (fsync), renames it over the destination and flushes
 * the folder, so a file that exists is complete; a write that fails (a full disk, a read-only
 * folder) removes its temporary file and fails with a one-line {@link OutputError}, leaving the
 * files written before as they were.
 *
 * Run state (weights, optimizer moments) is saved as one F32 safetensors file whose metadata
 * carries the byte count and SHA-256 of the tensor data; {@link loadState} checks both, so a
 * truncated or corrupted checkpoint is refused with a {@link CheckpointError} rather than resumed
 * from. Used for the checkpoints of running cells; model checkpoints for users are written by the
 * backbones in the Hugging Face layout.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { CheckpointError, OutputError } from "./errors.ts";
import { sha256Hex } from "./hash.ts";

const encoder = new TextEncoder();

function reasonOf(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0]!;
}

function folderOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
}

async function syncFolder(path: string): Promise<void> {
  // Makes the rename itself durable; not every platform can open a folder, so best effort.
  try {
    const folder = await Deno.open(folderOf(path), { read: true });
    try {
      await folder.sync();
    } finally {
      folder.close();
    }
  } catch {
    // ignored: the data itself is already on the disk
  }
}

/**
 * Whether a process is running, for lock files that hold their owner's process id: its
 * `/proc` entry on Linux; elsewhere every process counts as alive (a lock is then never taken
 * over, only waited for or removed by hand).
 *
 * @param pid The process id.
 * @returns True unless the process is surely gone.
 */
export function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return Deno.build.os !== "linux";
  }
}

/**
 * Writes atomically: to a temporary file beside `path`, fsync, then a rename over `path`.
 *
 * @param path The destination.
 * @param data The bytes or text.
 * @throws OutputError naming the file when it cannot be written (the temporary file removed).
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let at = 0;
      while (at < bytes.length) at += await file.write(bytes.subarray(at));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => undefined);
    throw new OutputError({
      message: `Cannot write ${path}: ${reasonOf(error)}; files written before it are complete`,
      file: path,
    });
  }
  await syncFolder(path);
}

/**
 * Whether a file name is a temporary file of {@link writeAtomic} (left behind by a killed
 * process; never a complete file).
 *
 * @param name A file name.
 * @returns True for `*.tmp-<pid>-<id>`.
 */
export function isTemporaryName(name: string): boolean {
  return /\.tmp-\d+(-[0-9a-f]+)?$/.test(name);
}

/**
 * Saves named tensors and JSON metadata, with the data's byte count and SHA-256.
 *
 * @param path The file.
 * @param tensors Named tensors (read as float32).
 * @param metadata String metadata kept in `__metadata__` (`dataBytes` and `sha256` are added).
 * @throws OutputError when the file cannot be written.
 */
export async function saveState(
  path: string,
  tensors: ReadonlyArray<readonly [string, tf.Tensor]>,
  metadata: Record<string, string>,
): Promise<void> {
  const entries: Record<string, unknown> = {};
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const values = Float32Array.from(await tensor.data());
    entries[name] = {
      dtype: "F32",
      shape: tensor.shape,
      data_offsets: [offset, offset + values.byteLength],
    };
    offset += values.byteLength;
    chunks.push(values);
  }
  const payload = new Uint8Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    payload.set(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), at);
    at += chunk.byteLength;
  }
  const header = {
    __metadata__: { ...metadata, dataBytes: String(offset), sha256: await sha256Hex(payload) },
    ...entries,
  };
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((json.length + 8) % 8)) % 8);
  const head = encoder.encode(json);
  const bytes = new Uint8Array(8 + head.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(head.length), true);
  bytes.set(head, 8);
  bytes.set(payload, 8 + head.length);
  await writeAtomic(path, bytes);
}

/** What {@link loadState} returns. */
export interface LoadedState {
  /** Tensors by name (the caller disposes them). */
  readonly tensors: ReadonlyMap<string, tf.Tensor>;
  /** The metadata. */
  readonly metadata: Readonly<Record<string, string>>;
}

type Entry = { shape: number[]; data_offsets: [number, number] };

function isEntry(value: unknown): value is Entry {
  const e = value as Partial<Entry> | null;
  return typeof e === "object" && e !== null && Array.isArray(e.shape) &&
    e.shape.every((d) => Number.isInteger(d) && d >= 0) && Array.isArray(e.data_offsets) &&
    e.data_offsets.length === 2 && e.data_offsets.every((o) => Number.isInteger(o) && o >= 0);
}

/**
 * Reads a file written by {@link saveState}, checking its structure, its size and (when recorded)
 * the SHA-256 of its data before any tensor is made.
 *
 * @param path The file.
 * @returns Tensors and metadata.
 * @throws CheckpointError naming the file and what is wrong (missing, truncated, corrupted).
 */
export async function loadState(path: string): Promise<LoadedState> {
  const fail = (what: string) =>
    new CheckpointError({ message: `Cannot resume from ${path}: ${what}`, file: path });
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw fail(reasonOf(error));
  }
  if (bytes.length < 8) throw fail("shorter than a header (a half-written file?)");
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    throw fail("header runs past the end of the file (a half-written file?)");
  }
  const base = 8 + Number(headerLength);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, base)));
  } catch {
    throw fail("header is not JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw fail("header is not a JSON object");
  }
  const rawMetadata = header.__metadata__ ?? {};
  if (typeof rawMetadata !== "object" || rawMetadata === null) {
    throw fail("__metadata__ is not an object");
  }
  const metadata = Object.fromEntries(
    Object.entries(rawMetadata as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
  );
  const payload = bytes.subarray(base);
  if (metadata.dataBytes !== undefined && Number(metadata.dataBytes) !== payload.length) {
    throw fail(
      `has ${payload.length} data bytes, expected ${metadata.dataBytes} (a half-written file?)`,
    );
  }
  if (metadata.sha256 !== undefined && (await sha256Hex(payload)) !== metadata.sha256) {
    throw fail("checksum mismatch (a corrupted file)");
  }
  const checked: Array<[string, Entry]> = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (!isEntry(entry)) throw fail(`tensor ${name} has no valid shape and data_offsets`);
    const [start, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (end > payload.length || start > end || end - start !== 4 * count) {
      throw fail(`tensor ${name} is out of range`);
    }
    checked.push([name, entry]);
  }
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, entry] of checked) {
    const [start, end] = entry.data_offsets;
    const values = new Float32Array(payload.slice(start, end).buffer);
    tensors.set(name, tf.tensor(values, entry.shape, "float32"));
  }
  return { tensors, metadata };
}
