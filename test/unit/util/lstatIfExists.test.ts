import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lstatIfExists, pathExists, statIfExistsSync } from '../../../src/util/lstatIfExists.js';

describe('lstatIfExists and pathExists', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lstat-if-exists-'));
    await mkdir(join(dir, 'd'));
    await writeFile(join(dir, 'f'), 'x');
    await symlink('nowhere', join(dir, 'dangling'));
    await symlink('loop', join(dir, 'loop'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('gives the entry itself, a symlink not followed, in number or bigint form', async () => {
    expect((await lstatIfExists(join(dir, 'd')))?.isDirectory()).toBe(true);
    expect((await lstatIfExists(join(dir, 'dangling')))?.isSymbolicLink()).toBe(true);
    expect(typeof (await lstatIfExists(join(dir, 'f'), { bigint: true }))?.size).toBe('bigint');
  });
  it('gives undefined where nothing is there: a missing name, or a path through a file', async () => {
    expect(await lstatIfExists(join(dir, 'missing'))).toBeUndefined();
    expect(await lstatIfExists(join(dir, 'f', 'below'))).toBeUndefined();
    expect(await pathExists(join(dir, 'f', 'below'))).toBe(false);
  });
  it('pathExists follows symlinks: a dangling one is nothing', async () => {
    expect(await pathExists(join(dir, 'f'))).toBe(true);
    expect(await pathExists(join(dir, 'dangling'))).toBe(false);
  });
  it('throws what is not absence, so an unreadable path is not taken for a missing one', async () => {
    await expect(pathExists(join(dir, 'loop'))).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(lstatIfExists(join(dir, 'loop', 'x'))).rejects.toMatchObject({ code: 'ELOOP' });
  });
  it('statIfExistsSync follows symlinks, gives undefined for absence and throws the rest', () => {
    expect(statIfExistsSync(join(dir, 'd'))?.isDirectory()).toBe(true);
    expect(typeof statIfExistsSync(join(dir, 'f'), { bigint: true })?.mtimeNs).toBe('bigint');
    expect(statIfExistsSync(join(dir, 'dangling'))).toBeUndefined();
    expect(statIfExistsSync(join(dir, 'f', 'below'))).toBeUndefined();
    expect(() => statIfExistsSync(join(dir, 'loop'))).toThrow(expect.objectContaining({ code: 'ELOOP' }));
  });
});
