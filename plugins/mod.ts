/**
 * Plugins: the built-in plugin and the loader for third-party plugins.
 *
 * @module
 */
export * from "./builtins.ts";
