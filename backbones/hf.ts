/**
 * Hugging Face model directories: load and save `LlamaForCausalLM`, `Qwen2ForCausalLM` and
 * `GPT2LMHeadModel`.
 *
 * A directory holds `config.json`, `model.safetensors` (or shards listed in
 * `model.safetensors.index.json`), `tokenizer.json`, `tokenizer_config.json` and optionally
 * `generation_config.json`. `config.json` is read in transformers 4.x keys (`rope_theta`,
 * `torch_dtype`) and 5.x keys (`rope_parameters`, `dtype`); the end-of-sequence ids come from
 * `config.json` or `generation_config.json`. Weights may be F32, F16 or BF16 (read as float32).
 *
 * Saving writes the same layout with F32 weights, the same tensor names and shapes and both key
 * generations in `config.json`, so `transformers` loads it.
 *
 * @module
 */
import { Effect } from "effect";
import { CheckpointError, DataError } from "../core/errors.ts";
import { parseSafetensors, type SafeTensor, serializeSafetensors } from "./safetensors.ts";
import { HfTokenizer, isSavable, SymbolTokenizer, type TokenizerFiles } from "./tokenizer.ts";
import { checkConfig, Transformer, type TransformerConfig, weightSpecs } from "./transformer.ts";

type Json = Record<string, unknown>;

function join(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}`;
}

function checkpointError(file: string, message: string): CheckpointError {
  return new CheckpointError({ message, file });
}

async function readJson(path: string): Promise<Json | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw checkpointError(path, `Cannot read ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw checkpointError(
      path,
      `${path} is not valid JSON: ${String((error as Error).message).split("\n")[0]}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw checkpointError(path, `${path} is not a JSON object`);
  }
  return value as Json;
}

/** The architectures that can be loaded. */
export const supportedArchitectures: ReadonlyArray<string> = [
  "LlamaForCausalLM",
  "Qwen2ForCausalLM",
  "GPT2LMHeadModel",
];

/**
 * Reads a transformer config from `config.json` contents (4.x or 5.x keys).
 *
 * @param json The parsed `config.json`.
 * @param file The file name, for messages.
 * @returns The config.
 * @throws CheckpointError naming the file and field.
 */
export function configFromHf(json: Json, file: string): TransformerConfig {
  const architectures = json.architectures;
  const architecture = Array.isArray(architectures) ? architectures[0] : undefined;
  if (typeof architecture !== "string" || !supportedArchitectures.includes(architecture)) {
    throw checkpointError(
      file,
      `Unsupported architecture ${
        JSON.stringify(architecture ?? null)
      } in ${file} (architectures); supported: ${supportedArchitectures.join(", ")}`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const value = json[key] ?? fallback;
    if (!Number.isInteger(value) || (value as number) <= 0) {
      throw checkpointError(
        file,
        `${file} field ${key} must be a positive integer, got ${JSON.stringify(value ?? null)}`,
      );
    }
    return value as number;
  };
  const num = (key: string, fallback: number): number => {
    const value = json[key] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw checkpointError(
        file,
        `${file} field ${key} must be a positive number, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const value = json[key] ?? fallback;
    if (typeof value !== "boolean") {
      throw checkpointError(
        file,
        `${file} field ${key} must be a boolean, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  if (architecture === "GPT2LMHeadModel") {
    const d = int("n_embd");
    const heads = int("n_head");
    const activation = json.activation_function ?? "gelu_new";
    if (!["gelu_new", "gelu", "gelu_pytorch_tanh"].includes(activation as string)) {
      throw checkpointError(
        file,
        `${file} field activation_function ${
          JSON.stringify(activation)
        } is not supported (gelu_new, gelu)`,
      );
    }
    return {
      family: "gpt2",
      architecture,
      vocabSize: int("vocab_size"),
      contextLength: int("n_positions", json.n_ctx as number | undefined),
      dModel: d,
      nLayers: int("n_layer"),
      nHeads: heads,
      nKvHeads: heads,
      headDim: d / heads,
      dMlp: json.n_inner == null ? 4 * d : int("n_inner"),
      normEps: num("layer_norm_epsilon", 1e-5),
      ropeTheta: 10000,
      tieEmbeddings: bool("tie_word_embeddings", true),
      qkvBias: true,
      outputBias: true,
      mlpBias: true,
      activation: activation === "gelu" ? "gelu" : "gelu_new",
    };
  }
  const act = json.hidden_act ?? "silu";
  if (act !== "silu") {
    throw checkpointError(
      file,
      `${file} field hidden_act ${JSON.stringify(act)} is not supported (silu)`,
    );
  }
  const rope = json.rope_parameters as Json | null | undefined;
  const scaling = (json.rope_scaling ?? null) as Json | null;
  for (const [key, block] of [["rope_parameters", rope], ["rope_scaling", scaling]] as const) {
    const type = block?.rope_type ?? block?.type;
    if (block && type !== undefined && type !== "default") {
      throw checkpointError(
        file,
        `${file} field ${key}.rope_type ${JSON.stringify(type)} is not supported (default)`,
      );
    }
  }
  const theta = rope?.rope_theta ?? json.rope_theta ?? 10000;
  if (typeof theta !== "number" || !(theta > 0)) {
    throw checkpointError(
      file,
      `${file} field rope_theta must be a positive number, got ${JSON.stringify(theta)}`,
    );
  }
  if (json.use_sliding_window === true) {
    throw checkpointError(file, `${file} field use_sliding_window true is not supported`);
  }
  const d = int("hidden_size");
  const heads = int("num_attention_heads");
  const qwen = architecture === "Qwen2ForCausalLM";
  const attentionBias = qwen ? false : bool("attention_bias", false);
  return {
    family: "llama",
    architecture: architecture as TransformerConfig["architecture"],
    vocabSize: int("vocab_size"),
    contextLength: int("max_position_embeddings", 2048),
    dModel: d,
    nLayers: int("num_hidden_layers"),
    nHeads: heads,
    nKvHeads: int("num_key_value_heads", heads),
    headDim: json.head_dim == null ? d / heads : int("head_dim"),
    dMlp: int("intermediate_size"),
    normEps: num("rms_norm_eps", 1e-6),
    ropeTheta: theta,
    tieEmbeddings: bool("tie_word_embeddings", false),
    qkvBias: qwen || attentionBias,
    outputBias: attentionBias,
    mlpBias: qwen ? false : bool("mlp_bias", false),
    activation: "silu",
  };
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

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  }
  return out;
}

/** The weights of a loaded file set, by canonical Hugging Face name. */
async function readWeights(
  dir: string,
  family: TransformerConfig["family"],
): Promise<Map<string, { tensor: SafeTensor; file: string }>> {
  const indexPath = join(dir, "model.safetensors.index.json");
  const index = await readJson(indexPath);
  const files: string[] = [];
  if (index) {
    const map = index.weight_map;
    if (typeof map !== "object" || map === null) {
      throw checkpointError(indexPath, `${indexPath} has no weight_map object`);
    }
    for (const shard of Object.values(map as Record<string, unknown>)) {
      if (typeof shard !== "string" || shard.includes("/") || shard.includes("..")) {
        throw checkpointError(
          indexPath,
          `${indexPath} weight_map names an invalid shard ${JSON.stringify(shard)}`,
        );
      }
      if (!files.includes(shard)) files.push(shard);
    }
  } else files.push("model.safetensors");
  const out = new Map<string, { tensor: SafeTensor; file: string }>();
  for (const name of files) {
    const path = join(dir, name);
    try {
      await Deno.stat(path);
    } catch {
      throw checkpointError(path, `Missing weight file ${path}`);
    }
    const content = parseSafetensors(await Deno.readFile(path), path);
    for (const [key, tensor] of content.tensors) {
      let canonical = key;
      if (family === "gpt2") {
        if (/\.attn\.(masked_)?bias$/.test(key)) continue; // causal-mask buffers
        if (!key.startsWith("transformer.") && !key.startsWith("lm_head.")) {
          canonical = `transformer.${key}`;
        }
      } else if (key.endsWith("rotary_emb.inv_freq")) continue;
      out.set(canonical, { tensor, file: path });
    }
  }
  return out;
}

function eosIdsOf(json: Json | undefined, file: string, vocab: number): number[] | undefined {
  const value = json?.eos_token_id;
  if (value === undefined || value === null) return undefined;
  const ids = Array.isArray(value) ? value : [value];
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw checkpointError(
        file,
        `${file} field eos_token_id ${JSON.stringify(id)} is outside the vocabulary (0..${
          vocab - 1
        })`,
      );
    }
  }
  return ids as number[];
}

async function loadHfPromise(dir: string): Promise<Transformer> {
  const configPath = join(dir, "config.json");
  const json = await readJson(configPath);
  if (!json) throw checkpointError(configPath, `No config.json in model directory ${dir}`);
  const config = configFromHf(json, configPath);
  try {
    checkConfig(config);
  } catch (error) {
    throw checkpointError(configPath, `${configPath}: ${(error as Error).message}`);
  }
  const generationPath = join(dir, "generation_config.json");
  const generation = await readJson(generationPath);
  const eosIds = eosIdsOf(json, configPath, config.vocabSize) ??
    eosIdsOf(generation, generationPath, config.vocabSize) ?? [];
  const bos = json.bos_token_id ?? generation?.bos_token_id;
  if (
    bos !== undefined && bos !== null &&
    (!Number.isInteger(bos) || (bos as number) >= config.vocabSize || (bos as number) < 0)
  ) {
    throw checkpointError(
      configPath,
      `${configPath} field bos_token_id ${JSON.stringify(bos)} is outside the vocabulary (0..${
        config.vocabSize - 1
      })`,
    );
  }
  const tokenizerPath = join(dir, "tokenizer.json");
  const tokenizerJson = await readJson(tokenizerPath);
  if (!tokenizerJson) {
    throw checkpointError(tokenizerPath, `No tokenizer.json in model directory ${dir}`);
  }
  const files: TokenizerFiles = {
    tokenizer: tokenizerJson,
    config: (await readJson(join(dir, "tokenizer_config.json"))) ?? {},
  };
  let tokenizer;
  try {
    tokenizer = SymbolTokenizer.fromFiles(files) ??
      new HfTokenizer(files, {
        ...(eosIds[0] === undefined ? {} : { eosId: eosIds[0] }),
        ...(typeof bos === "number" ? { bosId: bos } : {}),
      });
  } catch (error) {
    if (error instanceof DataError) {
      throw checkpointError(tokenizerPath, `${tokenizerPath}: ${error.message}`);
    }
    throw checkpointError(
      tokenizerPath,
      `Cannot build the tokenizer from ${tokenizerPath}: ${
        String((error as Error).message).split("\n")[0]
      }`,
    );
  }
  if (tokenizer.vocabSize > config.vocabSize) {
    throw checkpointError(
      tokenizerPath,
      `${tokenizerPath} has token ids up to ${
        tokenizer.vocabSize - 1
      }, outside the vocabulary of config.json vocab_size ${config.vocabSize}`,
    );
  }
  const found = await readWeights(dir, config.family);
  const weights = new Map<string, Float32Array>();
  for (const spec of weightSpecs(config)) {
    const entry = found.get(spec.name);
    const hfShape = spec.transposed ? [...spec.shape].reverse() : [...spec.shape];
    if (!entry) {
      throw checkpointError(
        dir,
        `Weight ${spec.name} (shape ${
          JSON.stringify(hfShape)
        }, from config.json) is missing in ${dir}`,
      );
    }
    const shape = entry.tensor.shape;
    if (shape.length !== hfShape.length || shape.some((s, i) => s !== hfShape[i])) {
      throw checkpointError(
        entry.file,
        `Weight ${spec.name} in ${entry.file} has shape ${
          JSON.stringify(shape)
        }, but config.json implies ${JSON.stringify(hfShape)}`,
      );
    }
    weights.set(
      spec.name,
      spec.transposed
        ? transpose2d(entry.tensor.data, hfShape[0]!, hfShape[1]!)
        : entry.tensor.data,
    );
  }
  return new Transformer(config, { tokenizer, weights, eosIds, extraConfig: json });
}

/**
 * Loads a Hugging Face model directory.
 *
 * @param dir The directory.
 * @returns The model (the caller disposes it), or a one-line {@link CheckpointError} naming the
 *   file or field at fault.
 */
export function loadHf(dir: string): Effect.Effect<Transformer, CheckpointError> {
  return Effect.tryPromise({
    try: () => loadHfPromise(dir),
    catch: (error) =>
      error instanceof CheckpointError ? error : checkpointError(
        dir,
        `Cannot load ${dir}: ${String((error as Error).message ?? error).split("\n")[0]}`,
      ),
  });
}

/**
 * Writes a model in the Hugging Face layout: `config.json`, `generation_config.json`,
 * `model.safetensors` (F32), and `tokenizer.json` + `tokenizer_config.json` when the tokenizer
 * can write them.
 *
 * @param model The model.
 * @param dir The directory (created if missing).
 */
export async function saveHf(model: Transformer, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const config = model.config;
  const tokenizer = model.tokenizer;
  const ids = {
    ...(tokenizer.bosId === undefined ? {} : { bos: tokenizer.bosId }),
    eos: model.eosIds,
    pad: tokenizer.padId,
  };
  const ours = configToHf(config, ids);
  const extra = { ...model.extraConfig };
  for (const key of ["rope_scaling", "torch_dtype", "dtype", "transformers_version"]) {
    delete extra[key];
  }
  const configJson = { ...extra, ...ours };
  const values = await model.weightValues();
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const spec of weightSpecs(config)) {
    const data = values.get(spec.name)!;
    if (spec.transposed) {
      const [rows, cols] = spec.shape as [number, number];
      tensors.set(spec.name, { shape: [cols, rows], data: transpose2d(data, rows, cols) });
    } else tensors.set(spec.name, { shape: [...spec.shape], data });
  }
  const write = async (name: string, bytes: Uint8Array | string) => {
    const path = join(dir, name);
    const temp = `${path}.tmp-${crypto.randomUUID()}`;
    if (typeof bytes === "string") await Deno.writeTextFile(temp, bytes);
    else await Deno.writeFile(temp, bytes);
    await Deno.rename(temp, path);
  };
  await write("model.safetensors", serializeSafetensors(tensors, { format: "pt" }));
  await write("config.json", JSON.stringify(configJson, null, 2) + "\n");
  await write(
    "generation_config.json",
    JSON.stringify(
      {
        ...(ids.bos === undefined ? {} : { bos_token_id: ids.bos }),
        eos_token_id: ids.eos.length === 1 ? ids.eos[0] : [...ids.eos],
        pad_token_id: ids.pad,
      },
      null,
      2,
    ) + "\n",
  );
  if (isSavable(tokenizer)) {
    const files = tokenizer.toFiles();
    await write("tokenizer.json", JSON.stringify(files.tokenizer) + "\n");
    await write("tokenizer_config.json", JSON.stringify(files.config, null, 2) + "\n");
  }
}
