/**
 * The built-in backbones: `transformer` (fresh init), `pretrained` (pretrained on the domain's
 * prior corpus, cached) and `hf` (a local Hugging Face directory).
 *
 * @module
 */
import type { Backbone } from "../core/plugin.ts";
import { hfBackbone, pretrainedBackbone, transformerBackbone } from "./parts.ts";
import { linearSoftmaxBackbone } from "./linear_softmax.ts";

/** Every built-in backbone. */
export const backbones: ReadonlyArray<Backbone<unknown>> = [
  transformerBackbone as Backbone<unknown>,
  pretrainedBackbone as Backbone<unknown>,
  hfBackbone as Backbone<unknown>,
  linearSoftmaxBackbone as Backbone<unknown>,
];
