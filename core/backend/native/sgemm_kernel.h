// The width-specific half of the bundled sgemm (`sgemm.c` includes it once per instruction set):
// packing of op(B) in panels of NR columns, the 6×NR micro-kernel (12 accumulators: two vectors
// per row) and the blocked product. The includer defines NR, V (the vector type), the vector
// operations V_LOAD (aligned), V_LOADU, V_STORE, V_STOREU, V_BCAST (broadcast a float from
// memory), V_SET1, V_ZERO, V_FMA (a·b + c), V_ADD, HALF (floats per vector), TARGET (the function
// attribute) and NAME(x) (a suffixed name).

// op(B)[p0 + p, j0 + c] into panels of NR columns ([kc][NR] each, zero-padded).
TARGET static void NAME(packB)(int transB, const float *b, int ldb, int p0, int j0, int kc, int nc,
                  float *dst) {
  for (int jr = 0; jr < nc; jr += NR) {
    int w = nc - jr < NR ? nc - jr : NR;
    if (!transB && w == NR) {
      for (int p = 0; p < kc; p++) {
        const float *src = b + (size_t)(p0 + p) * ldb + j0 + jr;
        V_STORE(dst, V_LOADU(src));
        V_STORE(dst + HALF, V_LOADU(src + HALF));
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
TARGET static inline void NAME(storeRow)(float *c, V x0, V x1, int w, int first, float beta) {
  if (w == NR) {
    if (!first) {
      x0 = V_ADD(x0, V_LOADU(c));
      x1 = V_ADD(x1, V_LOADU(c + HALF));
    } else if (beta != 0.0f) {
      V vb = V_SET1(beta);
      x0 = V_FMA(vb, V_LOADU(c), x0);
      x1 = V_FMA(vb, V_LOADU(c + HALF), x1);
    }
    V_STOREU(c, x0);
    V_STOREU(c + HALF, x1);
    return;
  }
  float tmp[NR] __attribute__((aligned(64)));
  V_STORE(tmp, x0);
  V_STORE(tmp + HALF, x1);
  for (int j = 0; j < w; j++) {
    c[j] = !first ? c[j] + tmp[j] : beta != 0.0f ? beta * c[j] + tmp[j] : tmp[j];
  }
}

// The 6×NR micro-kernel: C[h, w] (+)= pa[kc][6]ᵀ · pb[kc][NR].
TARGET static void NAME(kernel)(int kc, const float *pa, const float *pb, float *c, int ldc, int h, int w,
                   int first, float beta) {
  V c00 = V_ZERO(), c01 = V_ZERO();
  V c10 = V_ZERO(), c11 = V_ZERO();
  V c20 = V_ZERO(), c21 = V_ZERO();
  V c30 = V_ZERO(), c31 = V_ZERO();
  V c40 = V_ZERO(), c41 = V_ZERO();
  V c50 = V_ZERO(), c51 = V_ZERO();
  for (int p = 0; p < kc; p++) {
    V b0 = V_LOAD(pb), b1 = V_LOAD(pb + HALF), x;
    x = V_BCAST(pa);
    c00 = V_FMA(x, b0, c00);
    c01 = V_FMA(x, b1, c01);
    x = V_BCAST(pa + 1);
    c10 = V_FMA(x, b0, c10);
    c11 = V_FMA(x, b1, c11);
    x = V_BCAST(pa + 2);
    c20 = V_FMA(x, b0, c20);
    c21 = V_FMA(x, b1, c21);
    x = V_BCAST(pa + 3);
    c30 = V_FMA(x, b0, c30);
    c31 = V_FMA(x, b1, c31);
    x = V_BCAST(pa + 4);
    c40 = V_FMA(x, b0, c40);
    c41 = V_FMA(x, b1, c41);
    x = V_BCAST(pa + 5);
    c50 = V_FMA(x, b0, c50);
    c51 = V_FMA(x, b1, c51);
    pa += MR;
    pb += NR;
  }
  NAME(storeRow)(c, c00, c01, w, first, beta);
  if (h > 1) NAME(storeRow)(c + (size_t)ldc, c10, c11, w, first, beta);
  if (h > 2) NAME(storeRow)(c + 2 * (size_t)ldc, c20, c21, w, first, beta);
  if (h > 3) NAME(storeRow)(c + 3 * (size_t)ldc, c30, c31, w, first, beta);
  if (h > 4) NAME(storeRow)(c + 4 * (size_t)ldc, c40, c41, w, first, beta);
  if (h > 5) NAME(storeRow)(c + 5 * (size_t)ldc, c50, c51, w, first, beta);
}

// One product: C ← alpha·op(A)·op(B) + beta·C (row-major); returns 0, or -1 without memory.
TARGET static int NAME(gemm)(int transA, int transB, int m, int n, int k, float alpha, const float *a,
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
      NAME(packB)(transB, b, ldb, pc, jc, kc, nc, pb);
      for (int ic = 0; ic < m; ic += MC) {
        int mc = m - ic < MC ? m - ic : MC;
        packA(transA, a, lda, ic, pc, mc, kc, alpha, pa);
        for (int jr = 0; jr < nc; jr += NR) {
          int w = nc - jr < NR ? nc - jr : NR;
          const float *panelB = pb + (size_t)jr * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            int h = mc - ir < MR ? mc - ir : MR;
            NAME(kernel)(kc, pa + (size_t)ir * kc, panelB, c + (size_t)(ic + ir) * ldc + jc + jr, ldc,
                   h, w, pc == 0, beta);
          }
        }
      }
    }
  }
  return 0;
}

