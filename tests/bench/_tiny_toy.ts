// The toy preset shrunk for the twin's tests (a few steps, small sets): seconds per run.

/** The toy preset, shrunk: two seeds, a few steps, small sets. */
export const tinyToy: ReadonlyArray<string> = [
  "seeds=[0,1]",
  "domains.0.train.steps=10",
  "domains.0.backbones.0.params.steps=40",
  "domains.0.params.testItems=20",
  "domains.0.params.sftExamples=320",
  "domains.0.params.corpusDocuments=1280",
  "domains.1.train.steps=20",
  "domains.1.params.testItems=20",
  "domains.1.params.sftExamples=640",
];
