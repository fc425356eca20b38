/**
 * Writing a model in the Hugging Face layout, so that `transformers` (`AutoModelForCausalLM`,
 * `AutoTokenizer`), vLLM and lm-eval load it unchanged:
 *
 * - `config.json` in transformers 4.x and 5.x keys (plus the keys kept from a loaded checkpoint);
 * - `model.safetensors` (F32), or past `maxShardBytes` shards `model-0000k-of-0000n.safetensors`
 *   with `model.safetensors.index.json` (`metadata.total_size`, `weight_map`), as
 *   `save_pretrained` writes them (its default shard size is 5 GB);
 * - `generation_config.json` with every end-of-sequence id, the BOS and pad ids;
 * - the tokenizer files: those of the source checkpoint copied byte for byte (`tokenizer.json`,
 *   `tokenizer_config.json`, `special_tokens_map.json`, `chat_template.jinja`, …), or those a
 *   probsft tokenizer writes.
 *
 * Every file is written atomically (temporary file, fsync, rename); a stale index or shard set
 * of an earlier save in the same folder is removed.
 *
 * @module
 */
import { writeAtomic } from "../core/state_file.ts";
import type { Tokenizer } from "../core/plugin.ts";
import { serializeSafetensors } from "./safetensors.ts";
import { isSavable } from "./tokenizer.ts";
import { type TransformerConfig, weightSpecs } from "./transformer_config.ts";

type Json = Record<string, unknown>;

/** What {@link saveHf} needs of a model. */
export interface SavableModel {
  /** The sizes and switches. */
  readonly config: TransformerConfig;
  /** The tokenizer (its files are written when it can write them). */
  readonly tokenizer: Tokenizer;
  /** Every id that ends generation. */
  readonly eosIds: ReadonlyArray<number>;
  /** `config.json` keys kept from a loaded checkpoint. */
  readonly extraConfig: Readonly<Record<string, unknown>>;
  /** The current weights by Hugging Face name, in the layout kept here (`[in, out]`). */
  weightValues(): Promise<Map<string, Float32Array>>;
}

/** Options of {@link saveHf}. */
export interface SaveHfOptions {
  /**
   * Largest shard in bytes; a model past it is split into shards with an index.
   * @default 5_000_000_000 (transformers' `max_shard_size="5GB"`)
   */
  readonly maxShardBytes?: number;
}

/**
 * The `config.json` contents for a config, in both transformers 4.x and 5.x keys.
 *
 * @param config The config.
 * @param ids Special token ids.
 * @returns The JSON object.
 */
export function configToHf(
  config: TransformerConfig,
  ids: { readonly bos?: number; readonly eos: ReadonlyArray<number>; readonly pad?: number },
): Json {
  const common: Json = {
    architectures: [config.architecture],
    vocab_size: config.vocabSize,
    tie_word_embeddings: config.tieEmbeddings,
    initializer_range: 0.02,
    torch_dtype: "float32",
    dtype: "float32",
    use_cache: true,
    ...(ids.bos === undefined ? {} : { bos_token_id: ids.bos }),
    eos_token_id: ids.eos.length === 1 ? ids.eos[0] : [...ids.eos],
    ...(ids.pad === undefined ? {} : { pad_token_id: ids.pad }),
  };
  if (config.family === "gpt2") {
    return {
      ...common,
      model_type: "gpt2",
      n_embd: config.dModel,
      n_layer: config.nLayers,
      n_head: config.nHeads,
      n_positions: config.contextLength,
      n_ctx: config.contextLength,
      n_inner: config.dMlp,
      layer_norm_epsilon: config.normEps,
      activation_function: config.activation === "gelu" ? "gelu" : "gelu_new",
      resid_pdrop: 0,
      embd_pdrop: 0,
      attn_pdrop: 0,
      scale_attn_weights: true,
    };
  }
  const qwen = config.architecture === "Qwen2ForCausalLM";
  if (qwen && (!config.qkvBias || config.outputBias || config.mlpBias)) {
    throw new RangeError("Qwen2ForCausalLM needs q/k/v bias and no output or MLP bias");
  }
  if (!qwen && config.qkvBias !== config.outputBias) {
    throw new RangeError(
      "LlamaForCausalLM has one attention_bias switch: qkvBias and outputBias must agree",
    );
  }
  return {
    ...common,
    model_type: qwen ? "qwen2" : "llama",
    hidden_size: config.dModel,
    intermediate_size: config.dMlp,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    head_dim: config.headDim,
    max_position_embeddings: config.contextLength,
    rms_norm_eps: config.normEps,
    hidden_act: "silu",
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    rope_parameters: { rope_type: "default", rope_theta: config.ropeTheta },
    attention_dropout: 0,
    ...(qwen
      ? { use_sliding_window: false, max_window_layers: config.nLayers }
      : { attention_bias: config.qkvBias, mlp_bias: config.mlpBias, pretraining_tp: 1 }),
  };
}

/**
 * Transposes a row-major `[rows, cols]` matrix.
 *
 * @param data The values.
 * @param rows Rows.
 * @param cols Columns.
 * @returns The `[cols, rows]` values.
 */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  }
  return out;
}

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

/** Splits tensors (in order) into shards of at most `limit` bytes (a bigger tensor alone). */
function shards(tensors: Tensors, limit: number): Tensors[] {
  const out: Tensors[] = [new Map()];
  let size = 0;
  for (const [name, tensor] of tensors) {
    const bytes = tensor.data.length * 4;
    if (size > 0 && size + bytes > limit) {
      out.push(new Map());
      size = 0;
    }
    out.at(-1)!.set(name, tensor);
    size += bytes;
  }
  return out;
}

const shardName = (k: number, n: number): string =>
  `model-${String(k).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;

async function removeStaleWeights(dir: string, keep: ReadonlySet<string>): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const weightFile = /^model(-\d{5}-of-\d{5})?\.safetensors(\.index\.json)?$/.test(entry.name);
    if (entry.isFile && weightFile && !keep.has(entry.name)) {
      await Deno.remove(`${dir}/${entry.name}`);
    }
  }
}

/**
 * Writes a model in the Hugging Face layout (see the module documentation).
 *
 * @param model The model.
 * @param dir The directory (created if missing).
 * @param options Shard size.
 * @throws OutputError naming the file that could not be written.
 */
export async function saveHf(
  model: SavableModel,
  dir: string,
  options: SaveHfOptions = {},
): Promise<void> {
  dir = dir.replace(/\/+$/, "") || "/";
  await Deno.mkdir(dir, { recursive: true });
  const config = model.config;
  const tokenizer = model.tokenizer;
  const ids = {
    ...(tokenizer.bosId === undefined ? {} : { bos: tokenizer.bosId }),
    eos: model.eosIds,
    pad: tokenizer.padId,
  };
  const extra = { ...model.extraConfig };
  for (const key of ["rope_scaling", "torch_dtype", "dtype", "transformers_version"]) {
    delete extra[key];
  }
  const values = await model.weightValues();
  const tensors: Tensors = new Map();
  for (const spec of weightSpecs(config)) {
    const data = values.get(spec.name)!;
    if (spec.transposed) {
      const [rows, cols] = spec.shape as [number, number];
      tensors.set(spec.name, { shape: [cols, rows], data: transpose2d(data, rows, cols) });
    } else tensors.set(spec.name, { shape: [...spec.shape], data });
  }
  const parts = shards(tensors, options.maxShardBytes ?? 5_000_000_000);
  const written = new Set<string>();
  if (parts.length === 1) {
    await writeAtomic(`${dir}/model.safetensors`, serializeSafetensors(tensors, { format: "pt" }));
    written.add("model.safetensors");
  } else {
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (const [k, part] of parts.entries()) {
      const name = shardName(k + 1, parts.length);
      await writeAtomic(`${dir}/${name}`, serializeSafetensors(part, { format: "pt" }));
      written.add(name);
      for (const [tensor, { data }] of part) {
        weightMap[tensor] = name;
        total += data.length * 4;
      }
    }
    const index = { metadata: { total_size: total }, weight_map: weightMap };
    await writeAtomic(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify(index, null, 2) + "\n",
    );
    written.add("model.safetensors.index.json");
  }
  await removeStaleWeights(dir, written);
  const json = (value: unknown) => JSON.stringify(value, null, 2) + "\n";
  await writeAtomic(`${dir}/config.json`, json({ ...extra, ...configToHf(config, ids) }));
  await writeAtomic(
    `${dir}/generation_config.json`,
    json({
      ...(ids.bos === undefined ? {} : { bos_token_id: ids.bos }),
      eos_token_id: ids.eos.length === 1 ? ids.eos[0] : [...ids.eos],
      pad_token_id: ids.pad,
    }),
  );
  if (isSavable(tokenizer)) {
    for (const [name, bytes] of tokenizer.savedFiles()) await writeAtomic(`${dir}/${name}`, bytes);
  }
}
