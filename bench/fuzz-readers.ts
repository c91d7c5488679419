/**
 * The large reader fuzz run: `npm run fuzz:readers [-- SEED [SCALE]]`. Same targets and
 * mutations as test/unit/fuzz (CI runs a bounded count); prints what ran and exits 1 on the first
 * input that throws anything but a TsbuildError, with the seed and index to reproduce it.
 */
import { fuzzTarget, type FuzzTarget } from '../test/unit/fuzz/readerFuzz.js';

const seed = Number(process.argv[2] ?? 1);
const scale = Number(process.argv[3] ?? 1);
const plan: Record<FuzzTarget, number> = { tar: 100_000, extract: 10_000, manifest: 100_000, index: 100_000, config: 100_000 };

let total = 0;
const started = Date.now();
for (const [target, n] of Object.entries(plan) as Array<[FuzzTarget, number]>) {
  const count = Math.round(n * scale);
  const t0 = Date.now();
  try {
    const c = await fuzzTarget(target, seed, count);
    total += c.inputs;
    console.log(`${target.padEnd(8)} ${String(c.inputs).padStart(7)} inputs  ${String(c.accepted).padStart(7)} accepted  ${String(c.refused).padStart(7)} refused (TsbuildError)  ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
console.log(`total    ${total} inputs, 0 crashes, seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
