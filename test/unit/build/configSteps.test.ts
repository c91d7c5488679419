import { describe, expect, it } from 'vitest';
import { healthcheckConfig, parseGoDuration, validStopSignal } from '../../../src/build/steps/configSteps.js';
import { onbuildTriggers } from '../../../src/build/onbuildTriggers.js';
import type { HealthcheckInstruction } from '../../../src/dockerfile/instructions.js';

const at = { start: { line: 1, column: 1 }, end: { line: 1, column: 2 } };

describe('config steps', () => {
  it('parses durations as Go does, in nanoseconds', () => {
    expect(parseGoDuration('30s')).toBe(30e9);
    expect(parseGoDuration('1m30s')).toBe(90e9);
    expect(parseGoDuration('1.5h')).toBe(5400e9);
    expect(parseGoDuration('250ms')).toBe(250e6);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('10')).toBeUndefined();
    expect(parseGoDuration('5 s')).toBeUndefined();
  });

  it('accepts signal names with or without SIG, and numbers', () => {
    for (const s of ['SIGTERM', 'quit', '9', 'SIGRTMIN+3']) expect(validStopSignal(s), s).toBe(true);
    for (const s of ['SIGNOPE', '0', '99', '']) expect(validStopSignal(s), s).toBe(false);
  });

  it('leaves zero HEALTHCHECK options out and refuses negative retries', () => {
    const hc = (options: Record<string, string>): HealthcheckInstruction => ({
      kind: 'HEALTHCHECK', range: at, original: 'HEALTHCHECK CMD true', options, test: { type: 'CMD', command: { form: 'shell', script: 'true' } },
    });
    expect(healthcheckConfig(hc({ interval: '0s', retries: '0' }))).toEqual({ Test: ['CMD-SHELL', 'true'] });
    expect(() => healthcheckConfig(hc({ retries: '-1' }))).toThrow(/cannot be negative/);
    expect(() => healthcheckConfig(hc({ timeout: 'soon' }))).toThrow(/invalid duration/);
  });

  it('types ONBUILD triggers in order and refuses FROM among them', () => {
    expect(onbuildTriggers(['RUN make', 'COPY a /b'], 'base').map((i) => i.kind)).toEqual(['RUN', 'COPY']);
    expect(onbuildTriggers(null, 'base')).toEqual([]);
    expect(() => onbuildTriggers(['FROM scratch'], 'base')).toThrow(/FROM isn't allowed/);
  });
});
