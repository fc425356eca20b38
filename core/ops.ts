/**
 * Small tensor operations tfjs lacks.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

const stopGradientOp: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  ((x: tf.Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  })) as unknown as Parameters<typeof tf.customGrad>[0],
) as unknown as (x: tf.Tensor) => tf.Tensor;

/**
 * sg(x): the value of `x` with no gradient flowing back through it.
 *
 * @param x Any tensor.
 * @returns A tensor equal to `x` whose gradient is zero.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stopGradientOp(x) as T;
}

/** The engine state {@link gradsInBackward} works around (tfjs-core 4.22). */
interface TapeState {
  activeTape: Array<{ saved?: tf.Tensor[] }> | null;
  gradientDepth: number;
}

/**
 * `tf.grads` inside a custom gradient's backward pass (to recompute a piece of the forward pass
 * there). tfjs 4.22 would start a new tape at that point and drop the outer one (its `startTape`
 * resets the tape at depth 0, and its clean-up nulls it), so the inner gradient runs one level
 * deeper on the outer tape, and the nodes it added are removed and their saved tensors (clones)
 * freed as soon as it is done.
 *
 * @param f The function to differentiate.
 * @param xs Its inputs.
 * @param dy The gradient flowing into its output.
 * @returns d f / d xs, one tensor per input.
 */
export function gradsInBackward(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  xs: tf.Tensor[],
  dy: tf.Tensor,
): tf.Tensor[] {
  const state = (tf.engine() as unknown as { state: TapeState }).state;
  const tape = state.activeTape;
  const depth = state.gradientDepth;
  const length = tape?.length ?? 0;
  state.gradientDepth = depth + 1;
  try {
    return tf.grads(f)(xs, dy);
  } finally {
    state.gradientDepth = depth;
    const added = state.activeTape?.splice(length) ?? [];
    for (const node of added) for (const t of node.saved ?? []) if (!t.isDisposed) t.dispose();
    state.activeTape = tape;
  }
}
