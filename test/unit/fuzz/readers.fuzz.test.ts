/**
 * Crash-freedom of the readers that take untrusted bytes (bounded counts for CI; `npm run
 * fuzz:readers` runs the large version). Seeds are fixed, so a failure names a reproducible input.
 */
import { describe, expect, it } from 'vitest';
import { fuzzTarget, type FuzzTarget } from './readerFuzz.js';

const COUNTS: Record<FuzzTarget, number> = { tar: 3000, extract: 300, manifest: 3000, index: 3000, config: 3000 };

describe('reader fuzzing (seeded mutations; only TsbuildError may be thrown)', () => {
  for (const [target, count] of Object.entries(COUNTS) as Array<[FuzzTarget, number]>) {
    it(`${target}: ${count} mutated inputs`, async () => {
      const counts = await fuzzTarget(target, 20240917, count);
      expect(counts.inputs).toBe(count);
      // Both outcomes occur, so the mutations neither break everything nor nothing.
      expect(counts.refused).toBeGreaterThan(0);
      expect(counts.accepted).toBeGreaterThan(0);
    });
  }
});
