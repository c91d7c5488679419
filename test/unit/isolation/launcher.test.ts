import { describe, expect, it } from 'vitest';
import { TsbuildError } from '../../../src/errors.js';
import { mustLeaveNamespace } from '../../../src/isolation/launcher.js';
import { pickIsolation } from '../../../src/isolation/pickIsolation.js';

const entered = { TSBUILD_IN_NAMESPACE: '1', TSBUILD_LAUNCHER: 'entered' };

describe('a build the launcher started inside the namespace', () => {
  it('runs rootless for auto and rootless, saying why as auto would', async () => {
    expect(await pickIsolation('auto', entered)).toEqual({ mode: 'rootless', reason: 'auto: namespaces and overlay work here', missing: [] });
    expect((await pickIsolation('rootless', entered)).reason).toBe('asked for with --isolation rootless');
  });

  it('asks to be run outside for any other isolation (e.g. from the config file)', async () => {
    for (const request of ['chroot', 'proot', 'none'] as const) {
      const err = await pickIsolation(request, entered).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TsbuildError);
      expect((err as TsbuildError).code, request).toBe('LEAVE_NAMESPACE');
    }
  });

  it('does not ask again once run outside, nor inside a namespace bin/run.js entered', () => {
    expect(mustLeaveNamespace('proot', { TSBUILD_LAUNCHER: 'outside' })).toBe(false);
    expect(mustLeaveNamespace('proot', { TSBUILD_IN_NAMESPACE: '1', TSBUILD_LAUNCHER: 'outside' })).toBe(false);
    expect(mustLeaveNamespace('proot', { TSBUILD_IN_NAMESPACE: '1' })).toBe(false);
    expect(mustLeaveNamespace('proot', entered)).toBe(true);
  });
});
