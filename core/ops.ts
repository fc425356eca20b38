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
