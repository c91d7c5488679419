import { describe, expect, it } from 'vitest';
import { buildIdMap, findSubidRanges, formatIdMap, parseSubidFile, toContainerId } from '../../../src/isolation/idmap.js';

const SUBUID = `# managed by useradd
alice:100000:65536
bob:165536:65536

1001:231072:1000
broken line
carol:notanumber:10
dave:5:0
alice:300000:65536
alice:100000:65536
`;

describe('parseSubidFile', () => {
  it('keeps well-formed lines in order and skips comments, blanks and garbage', () => {
    expect(parseSubidFile(SUBUID)).toEqual([
      { owner: 'alice', start: 100000, count: 65536 },
      { owner: 'bob', start: 165536, count: 65536 },
      { owner: '1001', start: 231072, count: 1000 },
      { owner: 'alice', start: 300000, count: 65536 },
      { owner: 'alice', start: 100000, count: 65536 },
    ]);
  });

  it('rejects ranges past the 32-bit id space', () => {
    expect(parseSubidFile('x:4294967290:100\n')).toEqual([]);
  });
});

describe('findSubidRanges', () => {
  const entries = parseSubidFile(SUBUID);

  it('matches by name, dropping a duplicated line', () => {
    expect(findSubidRanges(entries, { name: 'alice', uid: 1000 })).toEqual([
      { start: 100000, count: 65536 },
      { start: 300000, count: 65536 },
    ]);
  });

  it('matches by numeric uid as newuidmap does', () => {
    expect(findSubidRanges(entries, { name: 'erin', uid: 1001 })).toEqual([{ start: 231072, count: 1000 }]);
    expect(findSubidRanges(entries, { uid: 1001 })).toEqual([{ start: 231072, count: 1000 }]);
  });

  it('finds nothing for a user without ranges', () => {
    expect(findSubidRanges(entries, { name: 'zed', uid: 4242 })).toEqual([]);
  });
});

describe('buildIdMap', () => {
  it('maps the user to 0 and the ranges back to back from 1', () => {
    const map = buildIdMap(1000, [
      { start: 100000, count: 65536 },
      { start: 300000, count: 10 },
    ]);
    expect(formatIdMap(map)).toBe('0 1000 1\n1 100000 65536\n65537 300000 10\n');
    expect(toContainerId(map, 1000)).toBe(0);
    expect(toContainerId(map, 100999)).toBe(1000);
    expect(toContainerId(map, 300009)).toBe(65546);
    expect(toContainerId(map, 300010)).toBeUndefined();
  });

  it('maps only the one id without ranges', () => {
    expect(formatIdMap(buildIdMap(1000, []))).toBe('0 1000 1\n');
  });
});
