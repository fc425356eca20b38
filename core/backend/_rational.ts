/**
 * tanh and erf by Eigen's float32 rational approximations (`Eigen/src/Core/MathFunctionsImpl.h`,
 * `generic_fast_tanh_float` and `generic_fast_erf_float`): no exp, |error| < 3e-7 (tanh) and
 * < 4e-7 (erf) against the true functions; tfjs's own erf, the Abramowitz–Stegun 7.1.26 form, is
 * within 3.1e-7. The scalar forms of the f32x4 `tanhv`/`erfv` of `simd/sgemm.as.ts`, shared by the
 * JavaScript GELU kernels of training (`fused_kernels.ts`) and decoding (`decode_kernels.ts`).
 *
 * @module
 */

/** √(2/π), the tanh-form GELU's scale. */
export const sqrt2OverPi: number = Math.sqrt(2 / Math.PI);

/**
 * tanh, clamped to ±7.905 (where float32 tanh is ±1).
 *
 * @param x Any number.
 * @returns tanh(x) within 3e-7.
 */
export function tanh(x: number): number {
  const c = 7.90531110763549805;
  const u = x > c ? c : x < -c ? -c : x;
  const x2 = u * u;
  let p = -2.76076847742355e-16;
  p = p * x2 + 2.00018790482477e-13;
  p = p * x2 - 8.60467152213735e-11;
  p = p * x2 + 5.12229709037114e-08;
  p = p * x2 + 1.48572235717979e-05;
  p = p * x2 + 6.37261928875436e-04;
  p = p * x2 + 4.89352455891786e-03;
  let q = 1.19825839466702e-06;
  q = q * x2 + 1.18534705686654e-04;
  q = q * x2 + 2.26843463243900e-03;
  q = q * x2 + 4.89352518554385e-03;
  return (p * u) / q;
}

/**
 * erf, clamped to ±4 (where float32 erf is ±1).
 *
 * @param x Any number.
 * @returns erf(x) within 4e-7.
 */
export function erf(x: number): number {
  const u = x > 4 ? 4 : x < -4 ? -4 : x;
  const x2 = u * u;
  let p = -2.72614225801306e-10;
  p = p * x2 + 2.77068142495902e-08;
  p = p * x2 - 2.10102402082508e-06;
  p = p * x2 - 5.69250639462346e-05;
  p = p * x2 - 7.34990630326855e-04;
  p = p * x2 - 2.95459980854025e-03;
  p = p * x2 - 1.60960333262415e-02;
  let q = -1.45660718464996e-05;
  q = q * x2 - 2.13374055278905e-04;
  q = q * x2 - 1.68282697438203e-03;
  q = q * x2 - 7.37332916720468e-03;
  q = q * x2 - 1.42647390514189e-02;
  return (p * u) / q;
}
