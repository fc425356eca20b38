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
 * Special tokens follow transformers: the tokenizer's own BOS/EOS/pad
 * (`tokenizer_config.json`, then `special_tokens_map.json`), and generation stops at every
 * `eos_token_id` of `generation_config.json` (else `config.json`) and at the tokenizer's EOS, as
 * vLLM does. A `config.json` field that changes the computation in a way probsft does not
 * implement (`rope_scaling`, sliding windows, quantization, GPT-2's attention scaling switches,
 * cross-attention) is refused with a one-line error naming it; dropout rates are reported as not
 * applied (probsft trains without dropout).
 *
 * Saving is `./hf_write.ts` ({@link saveHf}).
 *
 * @module
 */
import { Effect } from "effect";
import { CheckpointError, DataError } from "../core/errors.ts";
import { parseSafetensors, type SafeTensor } from "./safetensors.ts";
import { HfTokenizer, type TokenizerFiles } from "./tokenizer.ts";
import { Transformer } from "./transformer.ts";
import { checkConfig, type TransformerConfig, weightSpecs } from "./transformer_config.ts";
import { transpose2d } from "./hf_write.ts";

export { configToHf, saveHf, type SaveHfOptions } from "./hf_write.ts";

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

/**
 * `config.json` fields that change the computation in ways probsft does not implement, with the
 * value under which they are harmless (absent or null is always harmless).
 */
const unimplemented: ReadonlyArray<readonly [string, unknown]> = [
  ["quantization_config", undefined],
  ["add_cross_attention", false],
  ["scale_attn_weights", true],
  ["scale_attn_by_inverse_layer_idx", false],
  ["attn_logit_softcapping", undefined],
  ["final_logit_softcapping", undefined],
  ["sliding_window_pattern", undefined],
];

function refuseUnimplemented(json: Json, file: string): void {
  for (const [key, harmless] of unimplemented) {
    const value = json[key];
    if (value === undefined || value === null || value === harmless) continue;
    throw checkpointError(
      file,
      `${file} field ${key} ${
        JSON.stringify(value).slice(0, 80)
      } is not supported by probsft (it would change the model's computation)`,
    );
  }
  const layerTypes = json.layer_types;
  if (Array.isArray(layerTypes) && layerTypes.some((t) => t !== "full_attention")) {
    throw checkpointError(
      file,
      `${file} field layer_types has ${
        JSON.stringify(layerTypes.find((t) => t !== "full_attention"))
      } layers; only full_attention is supported`,
    );
  }
}

/**
 * The dropout rates of a `config.json` that are above 0: probsft trains without dropout.
 *
 * @param json The parsed `config.json`.
 * @returns `field value` strings, empty when none.
 */
export function dropoutNotes(json: Json): string[] {
  return ["resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout", "hidden_dropout"]
    .filter((key) => typeof json[key] === "number" && (json[key] as number) > 0)
    .map((key) => `${key} ${json[key]}`);
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
  refuseUnimplemented(json, file);
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

/** Tokenizer files copied through on save, byte for byte, when the folder has them. */
const tokenizerFileNames: ReadonlyArray<string> = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "chat_template.jinja",
  "chat_template.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
];

async function readRaw(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const name of tokenizerFileNames) {
    try {
      out.set(name, await Deno.readFile(join(dir, name)));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw checkpointError(
          join(dir, name),
          `Cannot read ${join(dir, name)}: ${(error as Error).message}`,
        );
      }
    }
  }
  return out;
}

/** Options of {@link loadHf}. */
export interface LoadHfOptions {
  /** Ignore the chat template (prompts are then encoded as plain text). */
  readonly noChatTemplate?: boolean;
  /** Receives notes on fields read but not applied (dropout). */
  readonly log?: (line: string) => void;
}

async function readConfig(dir: string): Promise<{ json: Json; config: TransformerConfig }> {
  const configPath = join(dir, "config.json");
  const json = await readJson(configPath);
  if (!json) throw checkpointError(configPath, `No config.json in model directory ${dir}`);
  const config = configFromHf(json, configPath);
  try {
    checkConfig(config);
  } catch (error) {
    throw checkpointError(configPath, `${configPath}: ${(error as Error).message}`);
  }
  return { json, config };
}

/**
 * Reads a Hugging Face model directory's `config.json` alone (no weights, no tokenizer), e.g.
 * for a memory plan.
 *
 * @param dir The directory.
 * @returns The config, or a one-line {@link CheckpointError}.
 */
export function readHfConfig(dir: string): Effect.Effect<TransformerConfig, CheckpointError> {
  return Effect.tryPromise({
    try: async () => (await readConfig(dir)).config,
    catch: (error) =>
      error instanceof CheckpointError ? error : checkpointError(
        dir,
        `Cannot read ${dir}: ${String((error as Error).message ?? error).split("\n")[0]}`,
      ),
  });
}

async function loadHfPromise(dir: string, options: LoadHfOptions): Promise<Transformer> {
  const configPath = join(dir, "config.json");
  const { json, config } = await readConfig(dir);
  const dropout = dropoutNotes(json);
  if (dropout.length > 0) {
    options.log?.(
      `${configPath}: ${dropout.join(", ")} not applied (probsft trains without dropout)`,
    );
  }
  const generationPath = join(dir, "generation_config.json");
  const generation = await readJson(generationPath);
  // transformers' generate() reads generation_config.json, made from config.json when absent.
  const eosIds = eosIdsOf(generation, generationPath, config.vocabSize) ??
    eosIdsOf(json, configPath, config.vocabSize) ?? [];
  const tokenizerPath = join(dir, "tokenizer.json");
  const tokenizerJson = await readJson(tokenizerPath);
  if (!tokenizerJson) {
    throw checkpointError(tokenizerPath, `No tokenizer.json in model directory ${dir}`);
  }
  const tokenizerConfigPath = join(dir, "tokenizer_config.json");
  const specialsMap = (await readJson(join(dir, "special_tokens_map.json"))) ?? {};
  const files: TokenizerFiles = {
    tokenizer: tokenizerJson,
    config: { ...specialsMap, ...((await readJson(tokenizerConfigPath)) ?? {}) },
  };
  const raw = await readRaw(dir);
  const jinja = raw.get("chat_template.jinja");
  let tokenizer: HfTokenizer;
  try {
    tokenizer = new HfTokenizer(files, {
      ...(eosIds[0] === undefined ? {} : { fallbackEosId: eosIds[0] }),
      ...(jinja ? { chatTemplate: new TextDecoder().decode(jinja) } : {}),
      ...(options.noChatTemplate ? { noChatTemplate: true } : {}),
      rawFiles: raw,
      dir: dir.replace(/\/+$/, ""),
    });
  } catch (error) {
    if (error instanceof DataError) {
      throw checkpointError(tokenizerConfigPath, error.message);
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
 * @param options Chat template use, a log for notes.
 * @returns The model (the caller disposes it), or a one-line {@link CheckpointError} naming the
 *   file or field at fault.
 */
export function loadHf(
  dir: string,
  options: LoadHfOptions = {},
): Effect.Effect<Transformer, CheckpointError> {
  return Effect.tryPromise({
    try: () => loadHfPromise(dir, options),
    catch: (error) =>
      error instanceof CheckpointError ? error : checkpointError(
        dir,
        `Cannot load ${dir}: ${String((error as Error).message ?? error).split("\n")[0]}`,
      ),
  });
}
