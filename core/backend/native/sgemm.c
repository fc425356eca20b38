// probsft's own single-precision matrix product for x86-64 with AVX2 and FMA, the stand-in for
// OpenBLAS where it is not installed (`core/backend/native_blas.ts` loads it through Deno's FFI;
// `deno task build-kernels` compiles it with Debian's gcc and embeds the shared object as base64
// in `sgemm_so.ts`). It exports one function, `probsft_sgemm`, with `cblas_sgemm`'s row-major
// semantics plus a batch. The structure is the classic GotoBLAS/BLIS one: `op(B)` packed in
// panels of 16 columns per 256-deep block, `op(A)` (times alpha) in panels of 6 rows per block
// of 96 rows, and a 6×16 register-blocked micro-kernel of 12 AVX accumulators with fused
// multiply-adds. Single-threaded (probsft runs one cell per core).
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 96
#define NC 4096

// Packing buffers, one pair per thread, grown on demand and kept.
static __thread float *bufA, *bufB;
static __thread size_t capA, capB;

static float *grow(float **buf, size_t *cap, size_t floats) {
  if (*cap < floats) {
    free(*buf);
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    *buf = aligned_alloc(64, bytes);
    *cap = *buf == NULL ? 0 : floats;
  }
  return *buf;
}

// op(A)[i, p] and op(B)[p, j] of row-major A and B.
#define OPA(i, p) (transA ? a[(size_t)(p) * lda + (i)] : a[(size_t)(i) * lda + (p)])
#define OPB(p, j) (transB ? b[(size_t)(j) * ldb + (p)] : b[(size_t)(p) * ldb + (j)])

// alpha·op(A)[i0 + r, p0 + p] into panels of MR rows ([kc][MR] each, zero-padded).
static void packA(int transA, const float *a, int lda, int i0, int p0, int mc, int kc,
                  float alpha, float *dst) {
  for (int ir = 0; ir < mc; ir += MR) {
    int h = mc - ir < MR ? mc - ir : MR;
    for (int p = 0; p < kc; p++) {
      for (int r = 0; r < MR; r++) {
        dst[r] = r < h ? alpha * OPA(i0 + ir + r, p0 + p) : 0.0f;
      }
      dst += MR;
    }
  }
}

// op(B)[p0 + p, j0 + c] into panels of NR columns ([kc][NR] each, zero-padded).
static void packB(int transB, const float *b, int ldb, int p0, int j0, int kc, int nc,
                  float *dst) {
  for (int jr = 0; jr < nc; jr += NR) {
    int w = nc - jr < NR ? nc - jr : NR;
    if (!transB && w == NR) {
      for (int p = 0; p < kc; p++) {
        const float *src = b + (size_t)(p0 + p) * ldb + j0 + jr;
        _mm256_store_ps(dst, _mm256_loadu_ps(src));
        _mm256_store_ps(dst + 8, _mm256_loadu_ps(src + 8));
        dst += NR;
      }
    } else {
      for (int p = 0; p < kc; p++) {
        for (int c = 0; c < NR; c++) dst[c] = c < w ? OPB(p0 + p, j0 + jr + c) : 0.0f;
        dst += NR;
      }
    }
  }
}

// C[h, w] = beta·C + acc (first block; beta 0 never reads C) or C += acc (later blocks).
static inline void storeRow(float *c, __m256 x0, __m256 x1, int w, int first, float beta) {
  if (w == NR) {
    if (!first) {
      x0 = _mm256_add_ps(x0, _mm256_loadu_ps(c));
      x1 = _mm256_add_ps(x1, _mm256_loadu_ps(c + 8));
    } else if (beta != 0.0f) {
      __m256 vb = _mm256_set1_ps(beta);
      x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), x0);
      x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), x1);
    }
    _mm256_storeu_ps(c, x0);
    _mm256_storeu_ps(c + 8, x1);
    return;
  }
  float tmp[NR] __attribute__((aligned(32)));
  _mm256_store_ps(tmp, x0);
  _mm256_store_ps(tmp + 8, x1);
  for (int j = 0; j < w; j++) {
    c[j] = !first ? c[j] + tmp[j] : beta != 0.0f ? beta * c[j] + tmp[j] : tmp[j];
  }
}

// The 6×16 micro-kernel: C[h, w] (+)= pa[kc][6]ᵀ · pb[kc][16].
static void kernel(int kc, const float *pa, const float *pb, float *c, int ldc, int h, int w,
                   int first, float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8), x;
    x = _mm256_broadcast_ss(pa);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(pa + 1);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(pa + 2);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(pa + 3);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(pa + 4);
    c40 = _mm256_fmadd_ps(x, b0, c40);
    c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(pa + 5);
    c50 = _mm256_fmadd_ps(x, b0, c50);
    c51 = _mm256_fmadd_ps(x, b1, c51);
    pa += MR;
    pb += NR;
  }
  storeRow(c, c00, c01, w, first, beta);
  if (h > 1) storeRow(c + (size_t)ldc, c10, c11, w, first, beta);
  if (h > 2) storeRow(c + 2 * (size_t)ldc, c20, c21, w, first, beta);
  if (h > 3) storeRow(c + 3 * (size_t)ldc, c30, c31, w, first, beta);
  if (h > 4) storeRow(c + 4 * (size_t)ldc, c40, c41, w, first, beta);
  if (h > 5) storeRow(c + 5 * (size_t)ldc, c50, c51, w, first, beta);
}

// One product: C ← alpha·op(A)·op(B) + beta·C (row-major); returns 0, or -1 without memory.
static int gemm(int transA, int transB, int m, int n, int k, float alpha, const float *a,
                int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return 0;
  if (k <= 0 || alpha == 0.0f) {
    for (int i = 0; i < m; i++) {
      float *row = c + (size_t)i * ldc;
      if (beta == 0.0f) memset(row, 0, sizeof(float) * n);
      else for (int j = 0; j < n; j++) row[j] *= beta;
    }
    return 0;
  }
  int ncMax = n < NC ? n : NC, kcMax = k < KC ? k : KC, mcMax = m < MC ? m : MC;
  float *pb = grow(&bufB, &capB, (size_t)((ncMax + NR - 1) / NR) * NR * kcMax);
  float *pa = grow(&bufA, &capA, (size_t)((mcMax + MR - 1) / MR) * MR * kcMax);
  if (pa == NULL || pb == NULL) return -1;
  for (int jc = 0; jc < n; jc += NC) {
    int nc = n - jc < NC ? n - jc : NC;
    for (int pc = 0; pc < k; pc += KC) {
      int kc = k - pc < KC ? k - pc : KC;
      packB(transB, b, ldb, pc, jc, kc, nc, pb);
      for (int ic = 0; ic < m; ic += MC) {
        int mc = m - ic < MC ? m - ic : MC;
        packA(transA, a, lda, ic, pc, mc, kc, alpha, pa);
        for (int jr = 0; jr < nc; jr += NR) {
          int w = nc - jr < NR ? nc - jr : NR;
          const float *panelB = pb + (size_t)jr * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            int h = mc - ir < MR ? mc - ir : MR;
            kernel(kc, pa + (size_t)ir * kc, panelB, c + (size_t)(ic + ir) * ldc + jc + jr, ldc,
                   h, w, pc == 0, beta);
          }
        }
      }
    }
  }
  return 0;
}

// `batch` row-major products C_i ← alpha·op(A_i)·op(B_i) + beta·C_i, A_i at a + i·strideA floats
// (0: the same A for every i), likewise B_i and C_i; transA/transB are 0 or 1. Returns 0, or -1
// when the packing buffers could not be allocated (nothing is then written).
__attribute__((visibility("default"))) int probsft_sgemm(
    int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
    const float *b, int ldb, float beta, float *c, int ldc, int batch, long strideA,
    long strideB, long strideC) {
  for (int i = 0; i < batch; i++) {
    int rc = gemm(transA, transB, m, n, k, alpha, a + i * strideA, lda, b + i * strideB, ldb,
                  beta, c + i * strideC, ldc);
    if (rc != 0) return rc;
  }
  return 0;
}
