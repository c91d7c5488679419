import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withLockFile } from '../../../src/util/lockFile.js';

const run = promisify(execFile);

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const { stdout } = await run(process.execPath, ['-e', 'console.log(process.pid)']);
  return Number(stdout.trim());
}

describe('withLockFile', () => {
  let dir: string;
  let lock: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-lock-'));
    lock = join(dir, 'x.lock');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('holds the lock file (our pid in it) while fn runs, and removes it after, also when fn throws', async () => {
    const seen = await withLockFile(lock, async () => readFile(lock, 'utf8'));
    expect(seen).toMatch(new RegExp(`^${process.pid} [0-9a-f]{16}\\n$`));
    expect(await readdir(dir)).toEqual([]);
    await expect(withLockFile(lock, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await readdir(dir)).toEqual([]);
  });

  it('runs holders one at a time', async () => {
    const order: string[] = [];
    const holder = (name: string) =>
      withLockFile(lock, async () => {
        order.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 30));
        order.push(`${name} out`);
      });
    await Promise.all([holder('a'), holder('b'), holder('c')]);
    for (let i = 0; i < order.length; i += 2) expect(order[i + 1]).toBe(order[i]?.replace(' in', ' out'));
    expect(await readdir(dir)).toEqual([]);
  });

  it('breaks a lock left by a dead process, leaving nothing aside', async () => {
    await writeFile(lock, `${await deadPid()} deadbeefdeadbeef\n`);
    expect(await withLockFile(lock, async () => 'got it', { timeoutMs: 2000 })).toBe('got it');
    expect(await readdir(dir)).toEqual([]);
  });

  it('waits for a live holder and then fails with STORE_LOCKED naming its pid; the lock stays', async () => {
    await writeFile(lock, `${process.ppid} 0123456789abcdef\n`);
    await expect(withLockFile(lock, async () => 'never', { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'STORE_LOCKED',
      message: `locking ${lock}: held by pid ${process.ppid}`,
    });
    expect(await readFile(lock, 'utf8')).toBe(`${process.ppid} 0123456789abcdef\n`);
  });

  it('leaves an empty lock file (being written) alone, and stops waiting on abort', async () => {
    await writeFile(lock, '');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(withLockFile(lock, async () => 'never', { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await readFile(lock, 'utf8')).toBe('');
  });

  it('does not remove a lock that another holder took over meanwhile', async () => {
    await withLockFile(lock, async () => {
      await writeFile(lock, `${process.ppid} someone-else\n`);
    });
    expect(await readFile(lock, 'utf8')).toBe(`${process.ppid} someone-else\n`);
  });
});
