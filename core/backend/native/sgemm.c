// probsft's own single-precision matrix product for x86-64 with AVX2 and FMA, the stand-in for
// OpenBLAS where it is not installed (`core/backend/native_blas.ts` loads it through Deno's FFI;
// `deno task build-kernels` compiles it with Debian's gcc and embeds the shared object as base64
// in `sgemm_so.ts`). It exports one function, `probsft_sgemm`, with `cblas_sgemm`'s row-major
// semantics plus a batch. The structure is the classic GotoBLAS/BLIS one: `op(B)` packed in
// panels of NR columns per 256-deep block, `op(A)` (times alpha) in panels of 6 rows per block
// of 96 rows, and a 6×NR register-blocked micro-kernel of 12 vector accumulators with fused
// multiply-adds (`sgemm_kernel.h`, once with AVX2 and NR = 16, once with AVX-512F and NR = 32;
// the wider one where the CPU has it and the product has at least 32 columns). Single-threaded
// (probsft runs one cell per core).
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
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

// AVX2 + FMA: 16-column panels of two 8-float vectors.
#define NR 16
#define HALF 8
#define V __m256
#define V_LOAD _mm256_load_ps
#define V_LOADU _mm256_loadu_ps
#define V_STORE _mm256_store_ps
#define V_STOREU _mm256_storeu_ps
#define V_BCAST _mm256_broadcast_ss
#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps
#define V_FMA _mm256_fmadd_ps
#define V_ADD _mm256_add_ps
#define TARGET
#define NAME(x) x##_avx2
#include "sgemm_kernel.h"
#undef NR
#undef HALF
#undef V
#undef V_LOAD
#undef V_LOADU
#undef V_STORE
#undef V_STOREU
#undef V_BCAST
#undef V_SET1
#undef V_ZERO
#undef V_FMA
#undef V_ADD
#undef TARGET
#undef NAME

// AVX-512F: 32-column panels of two 16-float vectors (used where the CPU has it and n ≥ 32).
#define NR 32
#define HALF 16
#define V __m512
#define V_LOAD _mm512_load_ps
#define V_LOADU _mm512_loadu_ps
#define V_STORE _mm512_store_ps
#define V_STOREU _mm512_storeu_ps
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_SET1 _mm512_set1_ps
#define V_ZERO _mm512_setzero_ps
#define V_FMA _mm512_fmadd_ps
#define V_ADD _mm512_add_ps
#define TARGET __attribute__((target("avx512f")))
#define NAME(x) x##_avx512
#include "sgemm_kernel.h"

// `batch` row-major products C_i ← alpha·op(A_i)·op(B_i) + beta·C_i, A_i at a + i·strideA floats
// (0: the same A for every i), likewise B_i and C_i; transA/transB are 0 or 1. Returns 0, or -1
// when the packing buffers could not be allocated (nothing is then written).
__attribute__((visibility("default"))) int probsft_sgemm(
    int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
    const float *b, int ldb, float beta, float *c, int ldc, int batch, long strideA,
    long strideB, long strideC) {
  int wide = n >= 32 && __builtin_cpu_supports("avx512f");
  for (int i = 0; i < batch; i++) {
    int rc = (wide ? gemm_avx512 : gemm_avx2)(transA, transB, m, n, k, alpha, a + i * strideA,
                                              lda, b + i * strideB, ldb, beta, c + i * strideC,
                                              ldc);
    if (rc != 0) return rc;
  }
  return 0;
}
