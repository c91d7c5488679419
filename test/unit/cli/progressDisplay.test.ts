import { describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../../src/build/progress.js';
import { formatSummary, type BuildSummary } from '../../../src/cli/buildSummary.js';
import { toJson } from '../../../src/cli/jsonProgress.js';
import { clock, PlainProgress } from '../../../src/cli/plainProgress.js';
import { colorEnabled, resolveProgressMode } from '../../../src/cli/progressMode.js';
import { transferLine, TtyProgress } from '../../../src/cli/ttyProgress.js';

const step = { id: 3, name: '[build 2/4] RUN make', stage: 'build' };

function sink() {
  const chunks: string[] = [];
  return { out: { write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WritableStream, text: () => chunks.join('') };
}

describe('progress mode', () => {
  it('takes -q, then --progress, then TSBUILD_PROGRESS, then the config file, then auto', () => {
    const base = { flag: undefined, quiet: false, env: {}, config: undefined, isTTY: false };
    expect(resolveProgressMode(base)).toBe('plain');
    expect(resolveProgressMode({ ...base, isTTY: true })).toBe('tty');
    expect(resolveProgressMode({ ...base, config: 'json' })).toBe('json');
    expect(resolveProgressMode({ ...base, config: 'json', env: { TSBUILD_PROGRESS: 'tty' } })).toBe('tty');
    expect(resolveProgressMode({ ...base, flag: 'plain', env: { TSBUILD_PROGRESS: 'tty' } })).toBe('plain');
    expect(resolveProgressMode({ ...base, flag: 'plain', quiet: true })).toBe('quiet');
    expect(() => resolveProgressMode({ ...base, env: { TSBUILD_PROGRESS: 'fancy' } })).toThrow('TSBUILD_PROGRESS=fancy: expected one of auto, tty, plain, json, quiet');
  });

  it('respects NO_COLOR and dumb terminals', () => {
    expect(colorEnabled({}, true)).toBe(true);
    expect(colorEnabled({ NO_COLOR: '1' }, true)).toBe(false);
    expect(colorEnabled({ NO_COLOR: '' }, true)).toBe(true);
    expect(colorEnabled({ TERM: 'dumb' }, true)).toBe(false);
    expect(colorEnabled({}, false)).toBe(false);
  });
});

describe('plain progress', () => {
  it('prefixes every line with the time and the step number, splitting output into lines', () => {
    const s = sink();
    const p = new PlainProgress(s.out);
    const t = new Date(2024, 0, 1, 9, 5, 7, 12).getTime();
    p.emit({ type: 'step-start', step, time: t });
    p.emit({ type: 'step-log', step, stream: 'stdout', data: Buffer.from('one\ntw'), time: t + 500 });
    p.emit({ type: 'step-log', step, stream: 'stdout', data: Buffer.from('o\n'), time: t + 600 });
    p.emit({ type: 'step-end', step, time: t + 1200, durationMs: 1200, cached: false, cacheReason: 'RUN command changed' });
    p.emit({ type: 'transfer', id: 'pull:x', label: 'pull abc', current: 1500, total: 1500, done: true, time: t + 1300 });
    expect(s.text()).toBe(
      [
        '09:05:07.012 #3 [build 2/4] RUN make',
        '09:05:07.512 #3 0.500 one',
        '09:05:07.612 #3 0.600 two',
        '09:05:08.212 #3 DONE 1.2s (RUN command changed)',
        '09:05:08.312 pull abc 1.50kB done',
        '',
      ].join('\n'),
    );
    expect(clock(t)).toBe('09:05:07.012');
  });
});

describe('json progress', () => {
  it('keeps UTF-8 output readable and sends other bytes as base64', () => {
    const text = toJson({ type: 'step-log', step, stream: 'stdout', data: Buffer.from('héllo\n'), time: 1 });
    expect(text).toMatchObject({ v: 1, encoding: 'utf8', data: 'héllo\n' });
    const bin = toJson({ type: 'step-log', step, stream: 'stderr', data: Buffer.from([0xff, 0x00, 0xfe]), time: 1 });
    expect(bin).toMatchObject({ encoding: 'base64', data: '/wD+' });
    expect(toJson({ type: 'step-end', step, time: 2, durationMs: 1, cached: true })).toMatchObject({ cache: 'hit' });
  });
});

describe('tty progress', () => {
  it('draws a transfer bar with bytes and rate', () => {
    expect(transferLine({ label: 'pull 0123abcd', current: 5_000_000, total: 10_000_000, start: 0 }, 2000)).toBe(
      '   pull 0123abcd [=========>          ] 5.00MB/10.0MB 2.50MB/s',
    );
    expect(transferLine({ label: 'push x', current: 2000, total: undefined, start: 0 }, 1000)).toBe('   push x 2.00kB 2.00kB/s');
  });

  it('collapses a finished step to one line and keeps a failed step\'s output above its error', () => {
    const s = sink();
    const tty = new TtyProgress(s.out, { color: false, columns: () => 80, now: () => 5000 });
    const events: ProgressEvent[] = [
      { type: 'step-start', step, time: 1000 },
      { type: 'step-log', step, stream: 'stdout', data: Buffer.from('compiling\n'), time: 1100 },
      { type: 'step-end', step, time: 2000, durationMs: 1000, cached: false },
      { type: 'step-start', step: { ...step, id: 4, name: '[build 3/4] RUN test' }, time: 2000 },
      { type: 'step-log', step: { ...step, id: 4 }, stream: 'stderr', data: Buffer.from('FAIL: x\n'), time: 2100 },
      { type: 'step-end', step: { ...step, id: 4, name: '[build 3/4] RUN test' }, time: 2200, durationMs: 200, cached: false, error: 'exit code: 1' },
    ];
    for (const e of events) tty.emit(e);
    tty.close();
    const text = s.text();
    expect(text).toContain('✓ [build 2/4] RUN make  1.0s\n');
    expect(text).toContain('✗ [build 3/4] RUN test  0.2s\n  │ FAIL: x\n  ERROR: exit code: 1\n');
    expect(text).not.toMatch(/\x1b\[\d+m/);
  });
});

describe('summary', () => {
  it('lists digest, layers with their step, biggest files, times and cache hits', () => {
    const summary: BuildSummary = {
      digest: `sha256:${'a'.repeat(64)}`,
      imageId: `sha256:${'b'.repeat(64)}`,
      tags: ['docker.io/library/app:1'],
      size: 3_500_000,
      layers: [
        { digest: `sha256:${'1'.repeat(64)}`, size: 3_000_000, createdBy: 'ADD rootfs.tar /', built: false },
        { digest: `sha256:${'2'.repeat(64)}`, size: 500_000, createdBy: '[app 2/3] RUN make', built: true },
      ],
      biggestFiles: [{ path: '/app/bin', size: 400_000 }],
      totalMs: 4200,
      stages: [{ name: 'app', ms: 3100 }],
      steps: 3,
      cached: 1,
    };
    expect(formatSummary(summary)).toBe(
      [
        '',
        `image    sha256:${'a'.repeat(64)}  (docker.io/library/app:1)`,
        `id       sha256:${'b'.repeat(64)}`,
        'size     3.50MB in 2 layers (1 built by this build)',
        'layers',
        '  111111111111    3.00MB  (base) ADD rootfs.tar /',
        '  222222222222   500.0kB  [app 2/3] RUN make',
        'biggest files added',
        '   400.0kB  /app/bin',
        'time     4.2s (app 3.1s)',
        'cache    1 of 3 steps cached',
        '',
      ].join('\n'),
    );
  });
});
