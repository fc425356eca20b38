// AssemblyScript source of the wasm SIMD matrix product (`deno task build-kernels` compiles it to
// `sgemm_wasm.ts`). It is not Deno TypeScript: `usize`, `v128`, `f32x4`, `load`/`store` are
// AssemblyScript builtins. The module imports its memory (tfjs wasm's heap), allocates nothing and
// has no data segment: every address it touches is passed in.

/** Rows of `op(A)` and columns of `op(B)` of one micro-tile, and the depth of a packed block. */
const MR = 4;
const NR = 8;
const KC = 256;

/**
 * `acc + x·y` lane by lane, fused where the processor can (relaxed SIMD's `relaxed_madd`: one
 * rounding with FMA hardware, two without; either is within the products' float32 tolerance).
 */
function FMA(x: v128, y: v128, acc: v128): v128 {
  return f32x4.relaxed_madd(x, y, acc);
}

/**
 * Packs `op(B)` (`[k, n]`, where `op(B)[kk, j]` is `B[kk·ldb + j]`, or `B[j·ldb + kk]` when
 * `transB`) into panels of 8 columns, zero-padded: panel `p` holds `[k, 8]` floats at
 * `dst + p·k·32` bytes. `b` points at `op(B)[0, 0]` of the block.
 */
function packB(b: usize, ldb: i32, transB: bool, k: i32, n: i32, dst: usize): void {
  const panels = (n + 7) >> 3;
  for (let p = 0; p < panels; p++) {
    const j0 = p << 3;
    const w = min(8, n - j0);
    let out = dst + ((<usize> p * <usize> k) << 5);
    if (!transB && w == 8) {
      let src = b + (<usize> j0 << 2);
      const step = <usize> ldb << 2;
      for (let kk = 0; kk < k; kk++) {
        v128.store(out, v128.load(src));
        v128.store(out, v128.load(src, 16), 16);
        src += step;
        out += 32;
      }
    } else if (!transB) {
      for (let kk = 0; kk < k; kk++) {
        const src = b + ((<usize> kk * <usize> ldb + <usize> j0) << 2);
        for (let j = 0; j < 8; j++) {
          store<f32>(out + (<usize> j << 2), j < w ? load<f32>(src + (<usize> j << 2)) : 0);
        }
        out += 32;
      }
    } else if (w == 8) {
      const step = <usize> ldb << 2;
      const r0 = b + ((<usize> j0 * <usize> ldb) << 2);
      for (let kk = 0; kk < k; kk++) {
        let src = r0 + (<usize> kk << 2);
        for (let j = 0; j < 8; j++) {
          store<f32>(out + (<usize> j << 2), load<f32>(src));
          src += step;
        }
        out += 32;
      }
    } else {
      for (let kk = 0; kk < k; kk++) {
        for (let j = 0; j < 8; j++) {
          const v: f32 = j < w
            ? load<f32>(b + (((<usize> j0 + <usize> j) * <usize> ldb + <usize> kk) << 2))
            : 0;
          store<f32>(out + (<usize> j << 2), v);
        }
        out += 32;
      }
    }
  }
}

/**
 * Packs `op(A)` (`[m, k]`, where `op(A)[i, kk]` is `A[i·lda + kk]`, or `A[kk·lda + i]` when
 * `transA`) into panels of 4 rows, zero-padded: panel `p` holds `[k, 4]` floats at
 * `dst + p·k·16` bytes. `a` points at `op(A)[0, 0]` of the block.
 */
function packA(a: usize, lda: i32, transA: bool, k: i32, m: i32, dst: usize): void {
  const panels = (m + 3) >> 2;
  const ld = <usize> lda << 2;
  for (let p = 0; p < panels; p++) {
    const i0 = p << 2;
    const h = min(4, m - i0);
    let out = dst + ((<usize> p * <usize> k) << 4);
    if (transA && h == 4) {
      let src = a + (<usize> i0 << 2);
      for (let kk = 0; kk < k; kk++) {
        v128.store(out, v128.load(src));
        src += ld;
        out += 16;
      }
    } else if (transA) {
      for (let kk = 0; kk < k; kk++) {
        const src = a + <usize> kk * ld + (<usize> i0 << 2);
        for (let r = 0; r < 4; r++) {
          store<f32>(out + (<usize> r << 2), r < h ? load<f32>(src + (<usize> r << 2)) : 0);
        }
        out += 16;
      }
    } else {
      const r0 = a + <usize> i0 * ld;
      const r1 = h > 1 ? r0 + ld : r0;
      const r2 = h > 2 ? r0 + 2 * ld : r0;
      const r3 = h > 3 ? r0 + 3 * ld : r0;
      for (let kk = 0; kk < k; kk++) {
        const o = <usize> kk << 2;
        store<f32>(out, load<f32>(r0 + o));
        store<f32>(out, h > 1 ? load<f32>(r1 + o) : 0, 4);
        store<f32>(out, h > 2 ? load<f32>(r2 + o) : 0, 8);
        store<f32>(out, h > 3 ? load<f32>(r3 + o) : 0, 12);
        out += 16;
      }
    }
  }
}

/** Writes a 4×8 tile (rows `acc`) to `C` (`mr` rows, `w` columns), adding to it when `beta`. */
function storeRow(c: usize, x0: v128, x1: v128, w: i32, beta: bool, tmp: usize): void {
  if (w == 8) {
    if (beta) {
      x0 = f32x4.add(x0, v128.load(c));
      x1 = f32x4.add(x1, v128.load(c, 16));
    }
    v128.store(c, x0);
    v128.store(c, x1, 16);
  } else {
    v128.store(tmp, x0);
    v128.store(tmp, x1, 16);
    for (let j = 0; j < w; j++) {
      const at = c + (<usize> j << 2);
      const v = load<f32>(tmp + (<usize> j << 2));
      store<f32>(at, beta ? load<f32>(at) + v : v);
    }
  }
}

/**
 * The 4×8 micro-kernel on packed panels: `C[mr, w] (+)= pa[k, 4]ᵀ · pb[k, 8]` (only the first
 * `mr` rows and `w` columns are stored). Each `op(A)` element is loaded already broadcast
 * (`load32_splat`, a load-port broadcast on x86) and multiplied-added with `relaxed_madd`, which
 * is one fused multiply-add where the processor has one (every x86-64 since 2013, Arm64).
 */
function kernel4x8(
  pa: usize,
  pb: usize,
  k: i32,
  c: usize,
  ldcBytes: usize,
  mr: i32,
  w: i32,
  beta: bool,
  tmp: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let kk = 0;
  for (; kk + 1 < k; kk += 2) {
    let b0 = v128.load(pb);
    let b1 = v128.load(pb, 16);
    let x = v128.load32_splat(pa);
    c00 = FMA(x, b0, c00);
    c01 = FMA(x, b1, c01);
    x = v128.load32_splat(pa, 4);
    c10 = FMA(x, b0, c10);
    c11 = FMA(x, b1, c11);
    x = v128.load32_splat(pa, 8);
    c20 = FMA(x, b0, c20);
    c21 = FMA(x, b1, c21);
    x = v128.load32_splat(pa, 12);
    c30 = FMA(x, b0, c30);
    c31 = FMA(x, b1, c31);
    b0 = v128.load(pb, 32);
    b1 = v128.load(pb, 48);
    x = v128.load32_splat(pa, 16);
    c00 = FMA(x, b0, c00);
    c01 = FMA(x, b1, c01);
    x = v128.load32_splat(pa, 20);
    c10 = FMA(x, b0, c10);
    c11 = FMA(x, b1, c11);
    x = v128.load32_splat(pa, 24);
    c20 = FMA(x, b0, c20);
    c21 = FMA(x, b1, c21);
    x = v128.load32_splat(pa, 28);
    c30 = FMA(x, b0, c30);
    c31 = FMA(x, b1, c31);
    pa += 32;
    pb += 64;
  }
  if (kk < k) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let x = v128.load32_splat(pa);
    c00 = FMA(x, b0, c00);
    c01 = FMA(x, b1, c01);
    x = v128.load32_splat(pa, 4);
    c10 = FMA(x, b0, c10);
    c11 = FMA(x, b1, c11);
    x = v128.load32_splat(pa, 8);
    c20 = FMA(x, b0, c20);
    c21 = FMA(x, b1, c21);
    x = v128.load32_splat(pa, 12);
    c30 = FMA(x, b0, c30);
    c31 = FMA(x, b1, c31);
  }
  storeRow(c, c00, c01, w, beta, tmp);
  if (mr > 1) storeRow(c + ldcBytes, c10, c11, w, beta, tmp);
  if (mr > 2) storeRow(c + 2 * ldcBytes, c20, c21, w, beta, tmp);
  if (mr > 3) storeRow(c + 3 * ldcBytes, c30, c31, w, beta, tmp);
}

/**
 * Batched single-precision matrix product, row-major:
 * `C_i[m, n] = op(A_i)[m, k] · op(B_i)[k, n]` (plus `C_i` when `beta` is 1) for `i < batch`,
 * where `op(A)` is `A` (`[m, k]`, row stride `lda`) or, when `transA`, `Aᵀ` of `A` (`[k, m]`, row
 * stride `lda`); likewise `op(B)` with `ldb`. `A_i` starts `i·strideA` floats after `a` (0:
 * broadcast), `B_i` and `C_i` likewise. All addresses are byte offsets in the imported memory;
 * `scratch` must hold {@link scratchBytes}`(m, n, k)` bytes (packed blocks of `op(A)` and
 * `op(B)`, and a tile buffer). Depth is blocked by 256 (packed `op(B)` block in L2, a packed
 * 4-row panel of `op(A)` in L1).
 */
export function sgemm(
  transA: i32,
  transB: i32,
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  beta: i32,
  batch: i32,
  strideA: i32,
  strideB: i32,
  strideC: i32,
  scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const kc = min(k, KC);
  const nPanels = (n + 7) >> 3;
  const mPanels = (m + 3) >> 2;
  const packedB = scratch;
  const packedA = packedB + ((<usize> nPanels * <usize> kc) << 5);
  const tmp = packedA + ((<usize> mPanels * <usize> kc) << 4);
  const ldcBytes = (<usize> ldc) << 2;
  const ldaBytes = (<usize> lda) << 2;
  const ldbBytes = (<usize> ldb) << 2;
  if (k <= 0) {
    // An empty sum: C = 0 (or unchanged when accumulating).
    if (beta == 0) {
      for (let i = 0; i < batch; i++) {
        const ci = c + ((<usize> i * <usize> strideC) << 2);
        for (let r = 0; r < m; r++) memory.fill(ci + <usize> r * ldcBytes, 0, <usize> n << 2);
      }
    }
    return;
  }
  for (let i = 0; i < batch; i++) {
    const ai = a + ((<usize> i * <usize> strideA) << 2);
    const bi = b + ((<usize> i * <usize> strideB) << 2);
    const ci = c + ((<usize> i * <usize> strideC) << 2);
    for (let k0 = 0; k0 < k; k0 += KC) {
      const kb = min(KC, k - k0);
      // op(B)[k0, 0] is B[k0·ldb] (rows) or B[k0] (transposed); likewise op(A)[0, k0].
      const bBlock = bi + (transB ? <usize> k0 << 2 : <usize> k0 * ldbBytes);
      const aBlock = ai + (transA ? <usize> k0 * ldaBytes : <usize> k0 << 2);
      if (i == 0 || strideB != 0 || k > KC) packB(bBlock, ldb, transB != 0, kb, n, packedB);
      if (i == 0 || strideA != 0 || k > KC) packA(aBlock, lda, transA != 0, kb, m, packedA);
      const acc = beta != 0 || k0 > 0;
      const panelB = (<usize> kb) << 5;
      const panelA = (<usize> kb) << 4;
      for (let p = 0; p < mPanels; p++) {
        const r = p << 2;
        const pa = packedA + <usize> p * panelA;
        const cr = ci + <usize> r * ldcBytes;
        const mr = min(MR, m - r);
        for (let q = 0; q < nPanels; q++) {
          const j0 = q << 3;
          kernel4x8(
            pa,
            packedB + <usize> q * panelB,
            kb,
            cr + (<usize> j0 << 2),
            ldcBytes,
            mr,
            min(NR, n - j0),
            acc,
            tmp,
          );
        }
      }
    }
  }
}

/**
 * Bytes of scratch that {@link sgemm} needs for these sizes.
 */
export function scratchBytes(m: i32, n: i32, k: i32): i32 {
  const kc = min(max(k, 1), KC);
  return (((n + 7) >> 3) * kc << 5) + (((m + 3) >> 2) * kc << 4) + 64;
}

// ---------------------------------------------------------------------------------------------
// Elementwise and row kernels (f32x4): exp, the causal softmax and its Jacobian, both GELUs,
// LayerNorm, column sums, the log-softmax at the target.

/**
 * `exp(x)` lane by lane, Cephes `expf`: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2` (ln 2 split in two
 * parts, so `r` is exact), `e^r ≈ 1 + r + r²·P(r)` with a degree-5 `P`, times `2^n` built in the
 * exponent bits. Relative error at most 2e-7 against the exact value for `x` in [−87.3, 88.3]
 * (`tests/bench/simd_test.ts` checks it against `Math.exp` on a grid of float32 inputs); below
 * −87.33 it returns 0, above 88.37 `e^88.37` (so `2^n` stays a normal float). The callers pass
 * `x ≤ 0` (softmax differences, `−x²/2`). NaN is not propagated (no caller produces one).
 */
function expv(x: v128): v128 {
  const hi = f32x4.splat(88.3762626647949);
  const lo = f32x4.splat(-87.33654022216797);
  const under = f32x4.lt(x, lo);
  x = f32x4.pmin(f32x4.pmax(x, lo), hi);
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = FMA(p, r, f32x4.splat(1.3981999507e-3));
  p = FMA(p, r, f32x4.splat(8.3334519073e-3));
  p = FMA(p, r, f32x4.splat(4.1665795894e-2));
  p = FMA(p, r, f32x4.splat(1.6666665459e-1));
  p = FMA(p, r, f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, pow2), under);
}

/** {@link expv} of one float. */
function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

/**
 * `exp(x[i])` for `i < n` into `y` (byte addresses; `y` may be `x`). Exported for the tests of
 * {@link expv}.
 */
export function expArray(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize> i << 2;
    v128.store(y + o, expv(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    store<f32>(y + o, exps(load<f32>(x + o)));
  }
}

/** The largest lane. */
function hmax(v: v128): f32 {
  v = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  v = f32x4.pmax(v, v128.shuffle<f32>(v, v, 1, 0, 3, 2));
  return f32x4.extract_lane(v, 0);
}

/** The sum of the lanes. */
function hsum(v: v128): f32 {
  v = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  v = f32x4.add(v, v128.shuffle<f32>(v, v, 1, 0, 3, 2));
  return f32x4.extract_lane(v, 0);
}

/**
 * The causal softmax of `squares` scores squares `[time, time]` (row-major, consecutive) in place:
 * row `i` becomes `softmax(scale·s[i, 0..i])` on and below the diagonal and 0 above it.
 */
export function softmaxCausal(p: usize, time: i32, squares: i32, scale: f32): void {
  const sc = f32x4.splat(scale);
  const rowBytes = <usize> time << 2;
  for (let s = 0; s < squares; s++) {
    for (let i = 0; i < time; i++) {
      const row = p + (<usize> s * <usize> time + <usize> i) * rowBytes;
      const len = i + 1;
      const n4 = len & ~3;
      let vmax = f32x4.splat(-Infinity);
      let j = 0;
      for (; j < n4; j += 4) {
        const at = row + (<usize> j << 2);
        const x = f32x4.mul(v128.load(at), sc);
        v128.store(at, x);
        vmax = f32x4.pmax(vmax, x);
      }
      let mx = hmax(vmax);
      for (; j < len; j++) {
        const at = row + (<usize> j << 2);
        const x = load<f32>(at) * scale;
        store<f32>(at, x);
        mx = max(mx, x);
      }
      const vm = f32x4.splat(mx);
      let vsum = f32x4.splat(0);
      for (j = 0; j < n4; j += 4) {
        const at = row + (<usize> j << 2);
        const e = expv(f32x4.sub(v128.load(at), vm));
        v128.store(at, e);
        vsum = f32x4.add(vsum, e);
      }
      let sum = hsum(vsum);
      for (; j < len; j++) {
        const at = row + (<usize> j << 2);
        const e = exps(load<f32>(at) - mx);
        store<f32>(at, e);
        sum += e;
      }
      const inv = f32x4.splat(<f32> 1 / sum);
      for (j = 0; j < n4; j += 4) {
        const at = row + (<usize> j << 2);
        v128.store(at, f32x4.mul(v128.load(at), inv));
      }
      const invs = <f32> 1 / sum;
      for (; j < len; j++) {
        const at = row + (<usize> j << 2);
        store<f32>(at, load<f32>(at) * invs);
      }
      if (len < time) memory.fill(row + (<usize> len << 2), 0, <usize> (time - len) << 2);
    }
  }
}

/**
 * The causal softmax's Jacobian for one square `[time, time]`, in place on `dp`:
 * `dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale` on and below the diagonal, 0 above it.
 */
export function softmaxCausalGrad(p: usize, dp: usize, time: i32, scale: f32): void {
  const sc = f32x4.splat(scale);
  const rowBytes = <usize> time << 2;
  for (let i = 0; i < time; i++) {
    const pr = p + <usize> i * rowBytes;
    const dr = dp + <usize> i * rowBytes;
    const len = i + 1;
    const n4 = len & ~3;
    let vs = f32x4.splat(0);
    let j = 0;
    for (; j < n4; j += 4) {
      const o = <usize> j << 2;
      vs = FMA(v128.load(pr + o), v128.load(dr + o), vs);
    }
    let rowsum = hsum(vs);
    for (; j < len; j++) {
      const o = <usize> j << 2;
      rowsum += load<f32>(pr + o) * load<f32>(dr + o);
    }
    const vr = f32x4.splat(rowsum);
    for (j = 0; j < n4; j += 4) {
      const o = <usize> j << 2;
      v128.store(
        dr + o,
        f32x4.mul(f32x4.mul(v128.load(pr + o), f32x4.sub(v128.load(dr + o), vr)), sc),
      );
    }
    for (; j < len; j++) {
      const o = <usize> j << 2;
      store<f32>(dr + o, load<f32>(pr + o) * (load<f32>(dr + o) - rowsum) * scale);
    }
    if (len < time) memory.fill(dr + (<usize> len << 2), 0, <usize> (time - len) << 2);
  }
}

/**
 * `erf(x)` lane by lane: Eigen's float32 rational approximation `x·P(x²)/Q(x²)` on x clamped to
 * [−4, 4] (error a few float32 ulp).
 */
function erfv(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-4)), f32x4.splat(4));
  const x2 = f32x4.mul(x, x);
  let p = f32x4.splat(-2.72614225801306e-10);
  p = FMA(p, x2, f32x4.splat(2.77068142495902e-08));
  p = FMA(p, x2, f32x4.splat(-2.10102402082508e-06));
  p = FMA(p, x2, f32x4.splat(-5.69250639462346e-05));
  p = FMA(p, x2, f32x4.splat(-7.34990630326855e-04));
  p = FMA(p, x2, f32x4.splat(-2.95459980854025e-03));
  p = FMA(p, x2, f32x4.splat(-1.60960333262415e-02));
  p = f32x4.mul(p, x);
  let q = f32x4.splat(-1.45660718464996e-05);
  q = FMA(q, x2, f32x4.splat(-2.13374055278905e-04));
  q = FMA(q, x2, f32x4.splat(-1.68282697438203e-03));
  q = FMA(q, x2, f32x4.splat(-7.37332916720468e-03));
  q = FMA(q, x2, f32x4.splat(-1.42647390514189e-02));
  return f32x4.div(p, q);
}

/** Exact GELU of 4 lanes: `0.5·x·(1 + erf(x/√2))`. */
function geluv(x: v128): v128 {
  const e = erfv(f32x4.mul(x, f32x4.splat(0.7071067811865476)));
  return f32x4.mul(f32x4.mul(x, f32x4.splat(0.5)), f32x4.add(e, f32x4.splat(1)));
}

/** Its derivative times `dy`: `dy·(0.5·(1 + erf(x/√2)) + x·e^(−x²/2)/√(2π))`. */
function geluGradv(dy: v128, x: v128): v128 {
  const e = erfv(f32x4.mul(x, f32x4.splat(0.7071067811865476)));
  const phi = f32x4.mul(
    expv(f32x4.mul(f32x4.mul(x, x), f32x4.splat(-0.5))),
    f32x4.splat(0.3989422804014327),
  );
  const d = f32x4.add(f32x4.mul(f32x4.add(e, f32x4.splat(1)), f32x4.splat(0.5)), f32x4.mul(x, phi));
  return f32x4.mul(dy, d);
}

/** Exact GELU of `n` floats from `x` into `y` (byte addresses). */
export function geluErf(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize> i << 2;
    v128.store(y + o, geluv(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    store<f32>(y + o, f32x4.extract_lane(geluv(f32x4.splat(load<f32>(x + o))), 0));
  }
}

/** The gradient of {@link geluErf}: `dx[i] = dy[i]·gelu′(x[i])` for `i < n`. */
export function geluErfGrad(dy: usize, x: usize, dx: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize> i << 2;
    v128.store(dx + o, geluGradv(v128.load(dy + o), v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    const g = geluGradv(f32x4.splat(load<f32>(dy + o)), f32x4.splat(load<f32>(x + o)));
    store<f32>(dx + o, f32x4.extract_lane(g, 0));
  }
}

/**
 * LayerNorm over the last axis `d` of `rows` rows: `y = (x − mean)·rstd·w + b`, and the row means
 * and inverse standard deviations `rstd = 1/√(var + eps)` (sums in float32).
 */
export function layerNorm(
  x: usize,
  w: usize,
  b: usize,
  y: usize,
  mean: usize,
  rstd: usize,
  rows: i32,
  d: i32,
  eps: f32,
): void {
  const d4 = d & ~3;
  const rowBytes = <usize> d << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize> r * rowBytes;
    const yr = y + <usize> r * rowBytes;
    let vs = f32x4.splat(0);
    let j = 0;
    for (; j < d4; j += 4) vs = f32x4.add(vs, v128.load(xr + (<usize> j << 2)));
    let sum = hsum(vs);
    for (; j < d; j++) sum += load<f32>(xr + (<usize> j << 2));
    const mu = sum / <f32> d;
    const vmu = f32x4.splat(mu);
    vs = f32x4.splat(0);
    for (j = 0; j < d4; j += 4) {
      const c = f32x4.sub(v128.load(xr + (<usize> j << 2)), vmu);
      vs = FMA(c, c, vs);
    }
    let sq = hsum(vs);
    for (; j < d; j++) {
      const c = load<f32>(xr + (<usize> j << 2)) - mu;
      sq += c * c;
    }
    const inv = <f32> 1 / sqrt<f32>(sq / <f32> d + eps);
    store<f32>(mean + (<usize> r << 2), mu);
    store<f32>(rstd + (<usize> r << 2), inv);
    const vinv = f32x4.splat(inv);
    for (j = 0; j < d4; j += 4) {
      const o = <usize> j << 2;
      const c = f32x4.mul(f32x4.sub(v128.load(xr + o), vmu), vinv);
      v128.store(yr + o, f32x4.add(f32x4.mul(c, v128.load(w + o)), v128.load(b + o)));
    }
    for (; j < d; j++) {
      const o = <usize> j << 2;
      store<f32>(yr + o, (load<f32>(xr + o) - mu) * inv * load<f32>(w + o) + load<f32>(b + o));
    }
  }
}

/**
 * The gradient of {@link layerNorm}: with `x̂ = (x − mean)·rstd` and `g = dy·w`,
 * `dx = rstd·(g − mean(g) − x̂·mean(g·x̂))`, `dw = Σ_rows dy·x̂`, `db = Σ_rows dy`.
 */
export function layerNormGrad(
  dy: usize,
  x: usize,
  w: usize,
  mean: usize,
  rstd: usize,
  dx: usize,
  dw: usize,
  db: usize,
  rows: i32,
  d: i32,
): void {
  const d4 = d & ~3;
  const rowBytes = <usize> d << 2;
  memory.fill(dw, 0, rowBytes);
  memory.fill(db, 0, rowBytes);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize> r * rowBytes;
    const gr = dy + <usize> r * rowBytes;
    const dr = dx + <usize> r * rowBytes;
    const mu = load<f32>(mean + (<usize> r << 2));
    const inv = load<f32>(rstd + (<usize> r << 2));
    const vmu = f32x4.splat(mu), vinv = f32x4.splat(inv);
    let vg = f32x4.splat(0), vgx = f32x4.splat(0);
    let j = 0;
    for (; j < d4; j += 4) {
      const o = <usize> j << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), vmu), vinv);
      const g = v128.load(gr + o);
      v128.store(dw + o, f32x4.add(v128.load(dw + o), f32x4.mul(g, xhat)));
      v128.store(db + o, f32x4.add(v128.load(db + o), g));
      const gg = f32x4.mul(g, v128.load(w + o));
      vg = f32x4.add(vg, gg);
      vgx = FMA(gg, xhat, vgx);
    }
    let sumG = hsum(vg), sumGX = hsum(vgx);
    for (; j < d; j++) {
      const o = <usize> j << 2;
      const xhat = (load<f32>(xr + o) - mu) * inv;
      const g = load<f32>(gr + o);
      store<f32>(dw + o, load<f32>(dw + o) + g * xhat);
      store<f32>(db + o, load<f32>(db + o) + g);
      const gg = g * load<f32>(w + o);
      sumG += gg;
      sumGX += gg * xhat;
    }
    const meanG = sumG / <f32> d, meanGX = sumGX / <f32> d;
    const vmg = f32x4.splat(meanG), vmgx = f32x4.splat(meanGX);
    for (j = 0; j < d4; j += 4) {
      const o = <usize> j << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), vmu), vinv);
      const t = f32x4.sub(
        f32x4.sub(f32x4.mul(v128.load(gr + o), v128.load(w + o)), vmg),
        f32x4.mul(xhat, vmgx),
      );
      v128.store(dr + o, f32x4.mul(t, vinv));
    }
    for (; j < d; j++) {
      const o = <usize> j << 2;
      const xhat = (load<f32>(xr + o) - mu) * inv;
      store<f32>(dr + o, inv * (load<f32>(gr + o) * load<f32>(w + o) - meanG - xhat * meanGX));
    }
  }
}

/** `out[j] = Σ_r x[r, j]` over `rows` rows of `d` floats (a bias gradient). */
export function columnSum(x: usize, out: usize, rows: i32, d: i32): void {
  const d4 = d & ~3;
  const rowBytes = <usize> d << 2;
  memory.fill(out, 0, rowBytes);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize> r * rowBytes;
    let j = 0;
    for (; j < d4; j += 4) {
      const o = <usize> j << 2;
      v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(xr + o)));
    }
    for (; j < d; j++) {
      const o = <usize> j << 2;
      store<f32>(out + o, load<f32>(out + o) + load<f32>(xr + o));
    }
  }
}

/** tanh lane by lane: Eigen's float32 rational approximation on x clamped to ±7.9 (no exp). */
function tanhv(x: v128): v128 {
  x = f32x4.pmin(
    f32x4.pmax(x, f32x4.splat(-7.90531110763549805)),
    f32x4.splat(7.90531110763549805),
  );
  const x2 = f32x4.mul(x, x);
  let p = f32x4.splat(-2.76076847742355e-16);
  p = FMA(p, x2, f32x4.splat(2.00018790482477e-13));
  p = FMA(p, x2, f32x4.splat(-8.60467152213735e-11));
  p = FMA(p, x2, f32x4.splat(5.12229709037114e-08));
  p = FMA(p, x2, f32x4.splat(1.48572235717979e-05));
  p = FMA(p, x2, f32x4.splat(6.37261928875436e-04));
  p = FMA(p, x2, f32x4.splat(4.89352455891786e-03));
  let q = f32x4.splat(1.19825839466702e-06);
  q = FMA(q, x2, f32x4.splat(1.18534705686654e-04));
  q = FMA(q, x2, f32x4.splat(2.26843463243900e-03));
  q = FMA(q, x2, f32x4.splat(4.89352518554385e-03));
  return f32x4.div(f32x4.mul(p, x), q);
}

/** The inner argument of GPT-2's tanh GELU: `√(2/π)·(x + 0.044715·x³)`. */
function geluTanhArg(x: v128): v128 {
  const x3 = f32x4.mul(f32x4.mul(x, x), x);
  return f32x4.mul(
    f32x4.add(x, f32x4.mul(x3, f32x4.splat(0.044715))),
    f32x4.splat(0.7978845608028654),
  );
}

/** GPT-2's tanh GELU of 4 lanes: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`. */
function geluTanhv(x: v128): v128 {
  const t = tanhv(geluTanhArg(x));
  return f32x4.mul(f32x4.mul(x, f32x4.splat(0.5)), f32x4.add(t, f32x4.splat(1)));
}

/** Its derivative times `dy`: `dy·(0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²))`. */
function geluTanhGradv(dy: v128, x: v128): v128 {
  const t = tanhv(geluTanhArg(x));
  const du = f32x4.mul(
    f32x4.add(f32x4.mul(f32x4.mul(x, x), f32x4.splat(3 * 0.044715)), f32x4.splat(1)),
    f32x4.splat(0.7978845608028654),
  );
  const half = f32x4.splat(0.5);
  const a = f32x4.mul(f32x4.add(t, f32x4.splat(1)), half);
  const b = f32x4.mul(
    f32x4.mul(f32x4.mul(x, half), f32x4.sub(f32x4.splat(1), f32x4.mul(t, t))),
    du,
  );
  return f32x4.mul(dy, f32x4.add(a, b));
}

/** GPT-2's tanh GELU of `n` floats from `x` into `y` (byte addresses). */
export function geluTanh(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize> i << 2;
    v128.store(y + o, geluTanhv(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    store<f32>(y + o, f32x4.extract_lane(geluTanhv(f32x4.splat(load<f32>(x + o))), 0));
  }
}

/** The gradient of {@link geluTanh}: `dx[i] = dy[i]·gelu′(x[i])` for `i < n`. */
export function geluTanhGrad(dy: usize, x: usize, dx: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize> i << 2;
    v128.store(dx + o, geluTanhGradv(v128.load(dy + o), v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    const g = geluTanhGradv(f32x4.splat(load<f32>(dy + o)), f32x4.splat(load<f32>(x + o)));
    store<f32>(dx + o, f32x4.extract_lane(g, 0));
  }
}

/**
 * Per row of `v` floats, its maximum `mx[r]` and `sum[r] = Σ_j exp(z[r, j] − mx[r])` (the pieces of
 * a log-sum-exp; the caller takes the log, since the module has no data for a log table).
 */
export function rowMaxSumExp(z: usize, mx: usize, sum: usize, rows: i32, v: i32): void {
  const v4 = v & ~3;
  const rowBytes = <usize> v << 2;
  for (let r = 0; r < rows; r++) {
    const row = z + <usize> r * rowBytes;
    let vmax = f32x4.splat(-Infinity);
    let j = 0;
    for (; j < v4; j += 4) vmax = f32x4.pmax(vmax, v128.load(row + (<usize> j << 2)));
    let m = hmax(vmax);
    for (; j < v; j++) m = max(m, load<f32>(row + (<usize> j << 2)));
    const vm = f32x4.splat(m);
    let vsum = f32x4.splat(0);
    for (j = 0; j < v4; j += 4) {
      vsum = f32x4.add(vsum, expv(f32x4.sub(v128.load(row + (<usize> j << 2)), vm)));
    }
    let total = hsum(vsum);
    for (; j < v; j++) total += exps(load<f32>(row + (<usize> j << 2)) - m);
    store<f32>(mx + (<usize> r << 2), m);
    store<f32>(sum + (<usize> r << 2), total);
  }
}

/**
 * The gradient of a log-softmax read at one target per row: `dz[r, j] = dy[r]·(1[j = id[r]] − exp(z[r, j] − lse[r]))`
 * (no one-hot term for an id outside `[0, v)`).
 */
export function targetLogProbGrad(
  dy: usize,
  z: usize,
  ids: usize,
  lse: usize,
  dz: usize,
  rows: i32,
  v: i32,
): void {
  const v4 = v & ~3;
  const rowBytes = <usize> v << 2;
  for (let r = 0; r < rows; r++) {
    const off = <usize> r * rowBytes;
    const g = load<f32>(dy + (<usize> r << 2));
    const vl = f32x4.splat(load<f32>(lse + (<usize> r << 2)));
    const vg = f32x4.splat(-g);
    let j = 0;
    for (; j < v4; j += 4) {
      const o = off + (<usize> j << 2);
      v128.store(dz + o, f32x4.mul(expv(f32x4.sub(v128.load(z + o), vl)), vg));
    }
    const l = load<f32>(lse + (<usize> r << 2));
    for (; j < v; j++) {
      const o = off + (<usize> j << 2);
      store<f32>(dz + o, -g * exps(load<f32>(z + o) - l));
    }
    const id = load<i32>(ids + (<usize> r << 2));
    if (id >= 0 && id < v) {
      const at = dz + off + (<usize> id << 2);
      store<f32>(at, load<f32>(at) + g);
    }
  }
}
