import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lgetxattrs, lgetxattrSync, lsetxattr } from '../../../src/util/fsx.js';

describe('lgetxattrSync', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-fsx-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads one attribute as lgetxattrs does, undefined when absent, not following a symlink', async () => {
    const f = join(dir, 'f');
    await writeFile(f, 'x');
    await lsetxattr(f, 'user.tsbuild.test', Buffer.from('12:345'));
    expect(lgetxattrSync(f, 'user.tsbuild.test')?.toString()).toBe('12:345');
    expect(lgetxattrSync(f, 'user.tsbuild.test')).toEqual((await lgetxattrs(f)).find(([n]) => n === 'user.tsbuild.test')?.[1]);
    expect(lgetxattrSync(f, 'user.tsbuild.other')).toBeUndefined();
    await symlink(f, join(dir, 'link'));
    expect(lgetxattrSync(join(dir, 'link'), 'user.tsbuild.test')).toBeUndefined();
  });

  it('throws a Node-style error for a path it cannot read', () => {
    expect(() => lgetxattrSync(join(dir, 'missing'), 'user.a')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'lgetxattr' }));
  });
});
