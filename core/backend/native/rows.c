// probsft's native row kernels for the cpu-blas backend (loaded with the bundled product by
// `native_sgemm.ts`; compiled into the same shared object by `deno task build-kernels`): the token
// loss's log-softmax at the target, the attention's causal softmax and GPT-2's tanh GELU, each
// way. They are the C forms of the wasm SIMD module's loops (`../simd/sgemm.as.ts`: the same exp
// polynomial and Eigen's float32 tanh), written as plain loops that gcc vectorizes for AVX2 (8
// floats a lane group) with FMA; the JavaScript kernels they replace run one float at a time.
// Sums over a row are kept in 8 float32 partial sums.

#include <math.h>
#include <stdint.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))
#define LANES 8

// exp(x) for float32 as in Cephes's expf (relative error ≤ 2e-7): x = n·ln 2 + r by a two-part
// ln 2, a degree-6 polynomial in r, and 2^n built in the exponent bits; 0 below -87.3 (where
// float32 exp underflows), clamped at 88.4. n is rounded by the 1.5·2^23 trick so the loop
// vectorizes without a rounding call.
static inline float exp_poly(float x) {
  const float hi = 88.3762626647949f, lo = -87.33654022216797f;
  const int under = x < lo;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const float magic = 12582912.0f;
  const float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float pow2;
  memcpy(&pow2, &bits, sizeof pow2);
  return under ? 0.0f : p * pow2;
}

// tanh by Eigen's float32 rational approximation (`generic_fast_tanh_float`), |error| < 3e-7.
static inline float tanh_rational(float x) {
  const float c = 7.90531110763549805f;
  x = x > c ? c : x;
  x = x < -c ? -c : x;
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return p * x / q;
}

static float row_max(const float *x, long n) {
  float m[LANES];
  for (int l = 0; l < LANES; l++) m[l] = -INFINITY;
  long j = 0;
  for (; j + LANES <= n; j += LANES) {
    for (int l = 0; l < LANES; l++) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
  }
  float mx = -INFINITY;
  for (int l = 0; l < LANES; l++) mx = m[l] > mx ? m[l] : mx;
  for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  return mx;
}

// Σ_j exp(x[j] − shift) over a row.
static float row_sum_exp(const float *x, long n, float shift) {
  float s[LANES] = {0};
  long j = 0;
  for (; j + LANES <= n; j += LANES) {
    for (int l = 0; l < LANES; l++) s[l] += exp_poly(x[j + l] - shift);
  }
  float sum = 0;
  for (int l = 0; l < LANES; l++) sum += s[l];
  for (; j < n; j++) sum += exp_poly(x[j] - shift);
  return sum;
}

// Per row r of z [rows, v]: lse[r] = log Σ_j exp(z[r, j]) (max-shifted) and
// logp[r] = z[r, ids[r]] − lse[r], with 0 read for an id outside [0, v).
EXPORT void probsft_target_log_prob(const float *z, const int32_t *ids, float *logp, float *lse,
                                    int rows, int v) {
  for (int r = 0; r < rows; r++) {
    const float *row = z + (long)r * v;
    const float mx = row_max(row, v);
    const float l = mx + logf(row_sum_exp(row, v, mx));
    const int t = ids[r];
    lse[r] = l;
    logp[r] = (t >= 0 && t < v ? row[t] : 0.0f) - l;
  }
}

// dz[r, j] = dy[r]·(1[j = ids[r]] − exp(z[r, j] − lse[r])).
EXPORT void probsft_target_log_prob_grad(const float *dy, const float *z, const int32_t *ids,
                                         const float *lse, float *dz, int rows, int v) {
  for (int r = 0; r < rows; r++) {
    const float *row = z + (long)r * v;
    float *out = dz + (long)r * v;
    const float g = dy[r], l = lse[r];
    for (long j = 0; j < v; j++) out[j] = -g * exp_poly(row[j] - l);
    const int t = ids[r];
    if (t >= 0 && t < v) out[t] += g;
  }
}

// p = the causal softmax of `squares` consecutive [time, time] score squares x: row i is
// softmax(scale·x[i, 0..i]) on and below the diagonal, 0 above it.
EXPORT void probsft_softmax_causal(const float *x, float *p, int time, int squares, float scale) {
  for (long row = 0; row < (long)squares * time; row++) {
    const long len = row % time + 1;
    const float *in = x + row * time;
    float *out = p + row * time;
    for (long j = 0; j < len; j++) out[j] = scale * in[j];
    const float mx = row_max(out, len);
    float s[LANES] = {0};
    long j = 0;
    for (; j + LANES <= len; j += LANES) {
      for (int l = 0; l < LANES; l++) {
        const float e = exp_poly(out[j + l] - mx);
        out[j + l] = e;
        s[l] += e;
      }
    }
    float sum = 0;
    for (int l = 0; l < LANES; l++) sum += s[l];
    for (; j < len; j++) {
      const float e = exp_poly(out[j] - mx);
      out[j] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
    for (j = 0; j < len; j++) out[j] *= inv;
    memset(out + len, 0, (size_t)(time - len) * sizeof(float));
  }
}

// dx = scale·p ⊙ (dy − rowsum(p ⊙ dy)) on and below the diagonal, 0 above it.
EXPORT void probsft_softmax_causal_grad(const float *dy, const float *p, float *dx, int time,
                                        int squares, float scale) {
  for (long row = 0; row < (long)squares * time; row++) {
    const long len = row % time + 1;
    const float *g = dy + row * time, *pr = p + row * time;
    float *out = dx + row * time;
    float s[LANES] = {0};
    long j = 0;
    for (; j + LANES <= len; j += LANES) {
      for (int l = 0; l < LANES; l++) s[l] += pr[j + l] * g[j + l];
    }
    float dot = 0;
    for (int l = 0; l < LANES; l++) dot += s[l];
    for (; j < len; j++) dot += pr[j] * g[j];
    for (j = 0; j < len; j++) out[j] = scale * pr[j] * (g[j] - dot);
    memset(out + len, 0, (size_t)(time - len) * sizeof(float));
  }
}

static inline float gelu_tanh_arg(float x) {
  return 0.7978845608028654f * (x + 0.044715f * x * x * x);
}

// GPT-2's tanh GELU: y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
EXPORT void probsft_gelu_tanh(const float *x, float *y, long n) {
  for (long i = 0; i < n; i++) {
    const float t = tanh_rational(gelu_tanh_arg(x[i]));
    y[i] = 0.5f * x[i] * (1.0f + t);
  }
}

// dx = dy·(0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)).
EXPORT void probsft_gelu_tanh_grad(const float *dy, const float *x, float *dx, long n) {
  for (long i = 0; i < n; i++) {
    const float v = x[i];
    const float t = tanh_rational(gelu_tanh_arg(v));
    const float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * v * v);
    dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
  }
}
