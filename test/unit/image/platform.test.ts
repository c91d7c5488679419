import { describe, expect, it } from 'vitest';
import { formatPlatform, hostPlatform, matchPlatform, normalizePlatform, parsePlatform, platformMatches } from '../../../src/image/platform.js';

describe('platforms', () => {
  it('parses and formats os/arch[/variant]', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe('linux/arm/v7');
    for (const bad of ['linux', 'linux/', '/amd64', 'a/b/c/d', 'linux/am d64']) {
      expect(() => parsePlatform(bad)).toThrow(/expected os\/arch/);
    }
  });

  it('reports the host in OCI terms', () => {
    const p = hostPlatform();
    expect(p.os).toBe('linux');
    const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };
    expect(p.architecture).toBe(expected[process.arch] ?? process.arch);
  });

  it('normalises aliases and default arm variants like containerd', () => {
    expect(normalizePlatform({ os: 'Linux', architecture: 'x86_64' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'armel' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
  });

  it('matches os and arch exactly, arm64 with or without v8', () => {
    expect(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'arm64' })).toBe(false);
    expect(platformMatches(parsePlatform('linux/amd64'), { os: 'windows', architecture: 'amd64' })).toBe(false);
    // an arm/v6 machine cannot run v7 code; a v7 one can run v6
    expect(platformMatches(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(false);
    expect(platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(true);
  });

  it('picks the best candidate: exact variant before older ones, first among equals', () => {
    const offered = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm', variant: 'v6' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      undefined,
    ];
    expect(matchPlatform(parsePlatform('linux/arm/v7'), offered)).toBe(2);
    expect(matchPlatform(parsePlatform('linux/arm/v6'), offered)).toBe(1);
    expect(matchPlatform(parsePlatform('linux/arm64'), offered)).toBe(3);
    expect(matchPlatform(parsePlatform('linux/amd64'), offered)).toBe(0);
    expect(matchPlatform(parsePlatform('linux/s390x'), offered)).toBe(-1);
    // arm64 falls back to 32-bit arm when no arm64 image exists, newest variant first
    expect(matchPlatform(parsePlatform('linux/arm64'), offered.slice(0, 3))).toBe(2);
  });
});
