import { describe, expect, it } from 'vitest';
// The mutator is shared with `npm run fuzz` (bench/fuzz-dockerfile.mjs), which runs 100,000+ inputs.
import { checkInput, inputs, loadCorpus } from '../../../bench/fuzzMutations.mjs';
import { DockerfileError } from '../../../src/dockerfile/dockerfileError.js';
import { parseDockerfile } from '../../../src/dockerfile/parseDockerfile.js';
import { TsbuildError } from '../../../src/errors.js';
import { resolveBuildGraph } from '../../../src/graph/buildGraph.js';
import { conformanceDir } from './conformanceDir.js';

const SAMPLE = 3000;
const api = { parseDockerfile, resolveBuildGraph, DockerfileError, TsbuildError };

describe('fuzz: mutated conformance Dockerfiles', () => {
  const corpus: string[] = loadCorpus(conformanceDir());

  it('reads the corpus', () => expect(corpus.length).toBeGreaterThan(10));

  it(`parse + resolve of ${SAMPLE} seeded mutations fail only with a located DockerfileError`, () => {
    const crashes: string[] = [];
    let rejected = 0;
    let n = 0;
    for (const text of inputs(corpus, SAMPLE, 20261122)) {
      n++;
      const result = checkInput(text, api);
      if (result === 'rejected') rejected++;
      else if (result !== 'accepted') crashes.push(`input ${n}: ${String((result.crash as Error)?.stack ?? result.crash)}\n${JSON.stringify(text.slice(0, 300))}`);
    }
    expect(crashes.slice(0, 3)).toEqual([]);
    // The mutations must exercise both paths, or the test proves nothing.
    expect(rejected).toBeGreaterThan(SAMPLE / 10);
    expect(SAMPLE - rejected).toBeGreaterThan(SAMPLE / 10);
  }, 120_000);
});
