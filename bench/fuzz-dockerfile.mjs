/**
 * Fuzzes the Dockerfile front end: mutated Dockerfiles from the conformance corpus (byte flips,
 * line shuffles, truncation, inserted keywords/flags/quotes/backslashes/heredoc markers) must
 * only ever fail with a DockerfileError that has a line, never crash.
 *
 *   npm run fuzz                 # 100,000 inputs, seed 1
 *   npm run fuzz -- 500000 7     # COUNT SEED
 */
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkInput, inputs, loadCorpus } from './fuzzMutations.mjs';

async function main() {
  const [count = 100_000, seed = 1] = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
  const root = resolve(fileURLToPath(import.meta.url), '../..');
  const conformance = process.env.TSBUILD_CONFORMANCE_DIR ?? resolve(root, '../shared/conformance');
  // Run with vite-node (npm run ...), which compiles src/ on the fly: no stale dist/.
  const load = (p) => import(pathToFileURL(join(root, 'src', p.replace(/\.js$/, '.ts'))).href);
  const [{ parseDockerfile }, { resolveBuildGraph }, { DockerfileError }, { TsbuildError }] = await Promise.all([
    load('dockerfile/parseDockerfile.js'),
    load('graph/buildGraph.js'),
    load('dockerfile/dockerfileError.js'),
    load('errors.js'),
  ]);
  const api = { parseDockerfile, resolveBuildGraph, DockerfileError, TsbuildError };
  const corpus = loadCorpus(conformance);
  if (corpus.length === 0) throw new Error(`no Dockerfiles under ${conformance}`);
  let n = 0;
  let rejected = 0;
  const crashes = [];
  const t0 = performance.now();
  for (const text of inputs(corpus, count, seed)) {
    n++;
    const result = checkInput(text, api);
    if (result === 'rejected') rejected++;
    else if (result !== 'accepted') {
      crashes.push({ text, err: result.crash });
      const err = result.crash;
      if (crashes.length <= 5) console.error(`crash #${crashes.length} on input ${n}: ${err?.stack ?? err}\n--- input ---\n${JSON.stringify(text.slice(0, 400))}\n---`);
    }
  }
  const ms = performance.now() - t0;
  console.log(`fuzzed ${n} inputs from ${corpus.length} corpus files (seed ${seed}) in ${(ms / 1000).toFixed(1)} s: ${crashes.length} crashes, ${rejected} rejected with a DockerfileError, ${n - rejected - crashes.length} accepted`);
  process.exitCode = crashes.length > 0 ? 1 : 0;
}

await main();
