import { describe, expect, it } from 'vitest';
import { enterArgs, inNamespace } from '../../../src/isolation/enterNamespace.js';
import type { IsolationProbe } from '../../../src/isolation/probe.js';

function probe(over: Partial<IsolationProbe>): IsolationProbe {
  return {
    uid: 1000, gid: 1000, userName: 'alice', userns: true, inUserNamespace: false,
    subuidRanges: [], subgidRanges: [], newuidmap: true, overlayUserxattr: false, ...over,
  };
}

describe('enterArgs', () => {
  it('maps the user to 0 and its subordinate ranges after it', () => {
    const p = probe({ subuidRanges: [{ start: 100000, count: 65536 }], subgidRanges: [{ start: 200000, count: 10 }], gid: 1001 });
    expect(enterArgs(p, ['node', 'run.js', 'build'])).toEqual([
      'enter', '--uid-map', '0:1000:1', '--uid-map', '1:100000:65536', '--gid-map', '0:1001:1', '--gid-map', '1:200000:10',
      '--', 'node', 'run.js', 'build',
    ]);
  });

  it('passes no maps without ranges (the helper then maps one id and warns) and none for root', () => {
    expect(enterArgs(probe({}), ['x'])).toEqual(['enter', '--', 'x']);
    expect(enterArgs(probe({ uid: 0, gid: 0, subuidRanges: [{ start: 1, count: 2 }] }), ['x'])).toEqual(['enter', '--', 'x']);
  });
});

describe('inNamespace', () => {
  it('reads the marker the helper sets', () => {
    expect(inNamespace({ TSBUILD_IN_NAMESPACE: '1' })).toBe(true);
    expect(inNamespace({})).toBe(false);
  });
});
