/**
 * The built-in plugin: every objective, backbone, benchmark and domain that ships with probsft.
 *
 * @module
 */
import type { Plugin } from "../core/plugin.ts";
import { objectives } from "../objectives/mod.ts";
import { backbones } from "../backbones/mod.ts";
import { benchmarks, domains } from "../benchmarks/mod.ts";

/** The built-in plugin value. */
export const builtins: Plugin = {
  name: "probsft",
  objectives,
  backbones,
  benchmarks,
  domains,
};
