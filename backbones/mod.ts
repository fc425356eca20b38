/**
 * The built-in backbones: `transformer` (fresh init), `pretrained` (pretrained on the domain's
 * prior corpus, cached) and `hf` (a local Hugging Face directory); and the Hugging Face round
 * trip for scripts: {@link loadHf}, {@link saveHf}.
 *
 * @example Load a folder, generate, save it back
 * ```ts ignore
 * import { Effect } from "effect";
 * import { loadHf, saveHf } from "jsr:@probsft/probsft/backbones";
 * const model = await Effect.runPromise(loadHf("path/to/model"));
 * const [out] = await model.generate([[1, 5, 6]], { maxNewTokens: 8 });
 * await saveHf(model, "path/to/copy");
 * model.dispose();
 * ```
 *
 * @module
 */
// Starts the default tensor backend, so that this entry works with no set-up call.
import "../core/backend/mod.ts";
import type { Backbone } from "../core/plugin.ts";
import { hfBackbone, pretrainedBackbone, transformerBackbone } from "./parts.ts";
import { linearSoftmaxBackbone } from "./linear_softmax.ts";

export { loadHf, type LoadHfOptions } from "./hf.ts";
export { saveHf, type SaveHfOptions } from "./hf_write.ts";

/** Every built-in backbone. */
export const backbones: ReadonlyArray<Backbone<unknown>> = [
  transformerBackbone as Backbone<unknown>,
  pretrainedBackbone as Backbone<unknown>,
  hfBackbone as Backbone<unknown>,
  linearSoftmaxBackbone as Backbone<unknown>,
];
