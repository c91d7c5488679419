import { describe, expect, it } from 'vitest';
import { decodeRecords, decodeRunSpec, encodeRecord, encodeRunSpec } from '../../../src/isolation/protocol.js';
import type { RunSpec } from '../../../src/isolation/runtime.js';

function spec(over: Partial<RunSpec> = {}): RunSpec {
  return {
    rootfs: { lowerdirs: ['/l/top', '/l/base'], upperdir: '/s/upper', workdir: '/s/work', userxattr: true },
    mountpoint: '/s/merged',
    argv: ['/bin/sh', '-c', 'echo "a,b:c" = $X'],
    env: ['PATH=/usr/bin:/bin', 'X=1=2', 'EMPTY='],
    cwd: '/app',
    user: 'nobody:nogroup',
    hostname: 'buildhost',
    network: 'none',
    etcHosts: '/tmp/hosts',
    resolvConf: '/tmp/resolv.conf',
    ...over,
  };
}

describe('encodeRunSpec', () => {
  it('round-trips every field, keeping lowerdir, argv and env order', () => {
    const s = spec();
    expect(decodeRunSpec(encodeRunSpec(s))).toEqual(s);
  });

  it('round-trips a rootfs without lowers and without optional files', () => {
    const s = spec({ rootfs: { lowerdirs: [], upperdir: '/u', workdir: '/w', userxattr: false }, emptyLowerdir: '/e' });
    delete s.etcHosts;
    delete s.resolvConf;
    expect(decodeRunSpec(encodeRunSpec(s))).toEqual(s);
  });

  it('starts with the versioned header the helper checks', () => {
    expect(encodeRunSpec(spec()).subarray(0, 19).toString()).toBe('tsbuild-run-spec\u00001\u0000');
  });

  it.each([
    ['a NUL in an argument', { argv: ['sh', 'a\u0000b'] }, /argv\[\] contains a NUL/],
    ['an empty command', { argv: [] }, /command is empty/],
    ['a relative cwd', { cwd: 'app' }, /cwd must be an absolute path/],
    ['an env entry without =', { env: ['PATH'] }, /has no '='/],
    ['no lowers and no empty dir', { rootfs: { lowerdirs: [], upperdir: '/u', workdir: '/w', userxattr: false } }, /needs emptyLowerdir/],
    ['a long hostname', { hostname: 'h'.repeat(65) }, /longer than 64/],
  ])('refuses %s', (_name, over, message) => {
    expect(() => encodeRunSpec(spec(over as Partial<RunSpec>))).toThrow(message);
  });
});

describe('decodeRecords', () => {
  it('reads error and signal records as the helper writes them', () => {
    const bytes = Buffer.concat([
      Buffer.from('E\u0000mount rootfs\u00002\u0000mounting overlay on /m: No such file or directory\u0000'),
      Buffer.from('S\u00009\u0000'),
    ]);
    expect(decodeRecords(bytes)).toEqual([
      { kind: 'error', step: 'mount rootfs', errno: 2, message: 'mounting overlay on /m: No such file or directory' },
      { kind: 'signal', signo: 9 },
    ]);
  });

  it('ignores a torn trailing record', () => {
    const bytes = Buffer.concat([encodeRecord({ kind: 'signal', signo: 15 }), Buffer.from('E\u0000chdir\u00002')]);
    expect(decodeRecords(bytes)).toEqual([{ kind: 'signal', signo: 15 }]);
  });

  it('round-trips through encodeRecord', () => {
    const rec = { kind: 'error' as const, step: 'setuid', errno: 22, message: 'switching to uid 5: Invalid argument' };
    expect(decodeRecords(encodeRecord(rec))).toEqual([rec]);
  });
});
