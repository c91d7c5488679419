import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSmallFileSync } from '../../../src/util/readSmallFileSync.js';

describe('readSmallFileSync', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-small-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads a file up to the limit whole, and gives undefined for one above it', async () => {
    const f = join(dir, 'f');
    await writeFile(f, 'abcdef');
    expect(readSmallFileSync(f, 6)?.toString()).toBe('abcdef');
    expect(readSmallFileSync(f, 100)?.toString()).toBe('abcdef');
    expect(readSmallFileSync(f, 5)).toBeUndefined();
    await writeFile(f, '');
    expect(readSmallFileSync(f, 0)?.length).toBe(0);
  });

  it('reads a file that reports no size (/proc) to its end', () => {
    const text = readSmallFileSync('/proc/self/status', 1 << 20)?.toString() ?? '';
    expect(text).toContain(`Pid:\t${process.pid}\n`);
    expect(text.endsWith('\n')).toBe(true);
    expect(readSmallFileSync('/proc/self/status', 10)).toBeUndefined();
  });

  it('throws what open and read throw (a missing file, a directory), and does not block on a FIFO', () => {
    expect(() => readSmallFileSync(join(dir, 'missing'), 10)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => readSmallFileSync(dir, 10)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    expect(readSmallFileSync(join(dir, 'fifo'), 10)?.length).toBe(0);
  });
});
