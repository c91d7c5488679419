// Types for bench/fuzzMutations.mjs (plain JS, shared by `npm run fuzz` and the seeded test).
export function mulberry32(seed: number): () => number;
export function mutate(text: string, rnd: () => number): string;
export function loadCorpus(conformanceDir: string): string[];
export function inputs(corpus: readonly string[], count: number, seed: number): Generator<string>;
export function checkInput(
  text: string,
  api: { parseDockerfile: (...args: never[]) => unknown; resolveBuildGraph: (...args: never[]) => unknown; DockerfileError: abstract new (...args: never[]) => { range: { start: { line: number } } } },
): 'accepted' | 'rejected' | { crash: unknown };
