/**
 * The closed forms of the built-in p-only objectives, written from the paper's formulas (the
 * research notes' §2.2 table and §9, Li et al. 2025 Eq. 1–4 and App. F.2), apart from the
 * objectives' own code: the theory checks compare each objective, through the training loss,
 * with this table, so an objective that is wrong everywhere (its `perToken`, `lossAt` and
 * `descentWeight` alike) still fails. Nothing here reads an objective.
 *
 * Each entry gives f(p) (the per-token value the official code sums), W_f(p) = −f′(p)·p·(1 − p)
 * (the descent weight on the target logit, from the gradient, which for a stop-gradient objective
 * is not the derivative of its value) and the gate 1{p ∈ I} of the thresholded variants.
 *
 * @module
 */
import type { ClosedForms } from "../core/theory.ts";

interface _Alpha {
  readonly alpha: number;
}
interface _Epsilon {
  readonly epsilon: number;
}
interface _Gate {
  readonly tau: number | { readonly percentile: number };
  readonly keep: "above" | "below";
}

function _form<P>(forms: ClosedForms<P>): ClosedForms<unknown> {
  return forms as ClosedForms<unknown>;
}

/** Eq. 4: f(p)·1{p ∈ I}, I = [τ, 1] ("above") or [0, τ] ("below"), over a p-only form. */
function _gated<P>(forms: ClosedForms<P>): ClosedForms<unknown> {
  const inside = (p: number, q: _Gate) => {
    if (typeof q.tau !== "number") throw new TypeError("The paper's gate needs a numeric tau");
    return q.keep === "above" ? p >= q.tau : p <= q.tau;
  };
  return _form<P & _Gate>({
    loss: (p, q) => (inside(p, q) ? forms.loss!(p, q) : 0),
    weight: (p, q) => (inside(p, q) ? forms.weight!(p, q) : 0),
    kept: inside,
  });
}

/** −log p (Eq. 1): W = 1 − p. */
const _nll: ClosedForms<unknown> = {
  loss: (p) => -Math.log(p),
  weight: (p) => 1 - p,
};

/** 1 − p, the paper's "−p" (Eq. 3 at α = 1): W = p(1 − p). */
const _negP: ClosedForms<unknown> = {
  loss: (p) => 1 - p,
  weight: (p) => p * (1 - p),
};

/** log(1 − p + ε) (§2.2, `UnlikehoodTop`): f′ = −1/(1 − p + ε), W = p(1 − p)/(1 − p + ε). */
const _logOneMinus = _form<_Epsilon>({
  loss: (p, { epsilon }) => Math.log(1 - p + epsilon),
  weight: (p, { epsilon }) => (p * (1 - p)) / (1 - p + epsilon),
});

/**
 * The paper's closed forms by objective id. Objectives outside the p-only analysis (anchored,
 * DEFT, OTR) have none here; their own checks are written in `theory_checks.ts`.
 */
export const paperForms: Readonly<Record<string, ClosedForms<unknown>>> = {
  "neg-log-prob": _nll,
  "neg-prob": _negP,
  // Eq. 3: f_α = (1 − p^α)/α, W = p^α(1 − p), peak α/(1 + α).
  "general-family": _form<_Alpha>({
    loss: (p, { alpha }) => (1 - Math.pow(p, alpha)) / alpha,
    weight: (p, { alpha }) => Math.pow(p, alpha) * (1 - p),
  }),
  // `convexity-α`: −p^α/α, the same W as Eq. 3.
  "neg-prob-power": _form<_Alpha>({
    loss: (p, { alpha }) => -Math.pow(p, alpha) / alpha,
    weight: (p, { alpha }) => Math.pow(p, alpha) * (1 - p),
  }),
  "log-one-minus-prob": _logOneMinus,
  "thresholded-neg-log-prob": _gated(_nll),
  "thresholded-neg-prob": _gated(_negP),
  "thresholded-log-one-minus-prob": _gated(_logOneMinus),
  // DFT (§9): value −sg(p)·log p = −p log p; gradient that of 1 − p, W = p(1 − p).
  "dft": {
    loss: (p) => -p * Math.log(p),
    weight: (p) => p * (1 - p),
  },
  // Focal (App. F.2): −(1 − p)^γ log p, W = (1 − p)^γ[(1 − p) − γ p log p].
  "focal": _form<{ readonly gamma: number }>({
    loss: (p, { gamma }) => -Math.pow(1 - p, gamma) * Math.log(p),
    weight: (p, { gamma }) => Math.pow(1 - p, gamma) * ((1 - p) - gamma * p * Math.log(p)),
  }),
  // Huber on e = 1 − p (App. F.2): e²/2 for e ≤ δ, else δ(e − δ/2); W = p(1 − p)² or δp(1 − p).
  "huber-prob": _form<{ readonly delta: number }>({
    loss: (p, { delta }) => (1 - p <= delta ? (1 - p) ** 2 / 2 : delta * (1 - p - delta / 2)),
    weight: (p, { delta }) => (1 - p <= delta ? p * (1 - p) ** 2 : delta * p * (1 - p)),
  }),
  // GFT (§9): −C(p)·log p, C = sg(p) below τ and 1 from τ on; W = p(1 − p) below, 1 − p above.
  "gft": _form<{ readonly tau: number }>({
    loss: (p, { tau }) => (p < tau ? -p * Math.log(p) : -Math.log(p)),
    weight: (p, { tau }) => (p < tau ? p * (1 - p) : 1 - p),
  }),
};
