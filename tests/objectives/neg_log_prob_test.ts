import "../_setup.ts";
import { testObjective } from "../../core/testing.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";

Deno.test("negLogProb conforms", () => testObjective(negLogProb));
