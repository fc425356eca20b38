/**
 * Shared test setup: every test file imports this so that its isolate has the tfjs cpu backend
 * (the reference) selected.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

tf.enableProdMode();
await tf.setBackend("cpu");
await tf.ready();
