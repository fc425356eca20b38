import "../_setup.ts";
import { testObjective } from "../../core/testing.ts";
import { anchored } from "../../objectives/anchored.ts";
import { deft } from "../../objectives/deft.ts";
import { dft } from "../../objectives/dft.ts";
import { focal } from "../../objectives/focal.ts";
import { generalFamily } from "../../objectives/general_family.ts";
import { gft } from "../../objectives/gft.ts";
import { huberProb } from "../../objectives/huber_prob.ts";
import { logOneMinusProb } from "../../objectives/log_one_minus_prob.ts";
import { negProb } from "../../objectives/neg_prob.ts";
import { negProbPower } from "../../objectives/neg_prob_power.ts";
import { otr } from "../../objectives/otr.ts";
import { thresholdedLogOneMinusProb } from "../../objectives/thresholded_log_one_minus_prob.ts";
import { thresholdedNegLogProb } from "../../objectives/thresholded_neg_log_prob.ts";
import { thresholdedNegProb } from "../../objectives/thresholded_neg_prob.ts";

Deno.test("negProb conforms", () => testObjective(negProb));
Deno.test("generalFamily conforms", () =>
  testObjective(generalFamily, { params: [{ alpha: 0.5 }, { alpha: 1 }, { alpha: 10 }] }));
Deno.test("negProbPower conforms", () =>
  testObjective(negProbPower, { params: [{ alpha: 0.2 }, { alpha: 5 }] }));
Deno.test("logOneMinusProb conforms", () =>
  testObjective(logOneMinusProb, { params: [{}, { epsilon: 0.01 }] }));
Deno.test("thresholdedNegLogProb conforms", () =>
  testObjective(thresholdedNegLogProb, {
    params: [{ tau: 0.2 }, { tau: 0.1, keep: "below" }, { tau: 0 }],
  }));
Deno.test("thresholdedNegProb conforms", () =>
  testObjective(thresholdedNegProb, { params: [{ tau: 0.05 }, { tau: 0.2, keep: "below" }] }));
Deno.test("thresholdedLogOneMinusProb conforms", () =>
  testObjective(thresholdedLogOneMinusProb, {
    params: [{ tau: 0.1 }, { tau: 0.3, keep: "below", epsilon: 0.01 }],
  }));
Deno.test("dft conforms", () => testObjective(dft));
Deno.test("anchored conforms", () => testObjective(anchored, { params: [{}, { lambda: 0.5 }] }));
Deno.test("focal conforms", () =>
  testObjective(focal, { params: [{}, { gamma: 0 }, { gamma: 0.5 }] }));
Deno.test("huberProb conforms", () => testObjective(huberProb, { params: [{}, { delta: 0.3 }] }));
Deno.test("deft conforms", () => testObjective(deft, { params: [{}, { variant: "cayley" }] }));
Deno.test("gft conforms", () => testObjective(gft, { params: [{ tau: 0.1 }, { tau: 0.9 }] }));
Deno.test("otr conforms", () =>
  testObjective(otr, { params: [{}, { samples: 3, temperature: 0.7, beta: 0.5 }] }));
