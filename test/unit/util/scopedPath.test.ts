import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveInRoot } from '../../../src/util/scopedPath.js';

describe('resolveInRoot', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'scoped-'));
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await symlink('usr/bin', join(root, 'bin'));
    await symlink('/etc', join(root, 'escape'));
    await symlink('../../../../..', join(root, 'usr/up'));
    await symlink('loop2', join(root, 'loop1'));
    await symlink('loop1', join(root, 'loop2'));
    await writeFile(join(root, 'usr/bin/tool'), 'x');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('follows relative symlinks inside the root', async () => {
    expect(await resolveInRoot(root, '/bin/tool')).toBe(join(root, 'usr/bin/tool'));
  });
  it('keeps absolute symlink targets inside the root', async () => {
    expect(await resolveInRoot(root, '/escape/passwd')).toBe(join(root, 'etc/passwd'));
  });
  it('clamps .. at the root, through symlinks too', async () => {
    expect(await resolveInRoot(root, '../../etc/shadow')).toBe(join(root, 'etc/shadow'));
    expect(await resolveInRoot(root, '/usr/up/etc')).toBe(join(root, 'etc'));
  });
  it('can leave the last component unresolved', async () => {
    expect(await resolveInRoot(root, '/escape', { followFinal: false })).toBe(join(root, 'escape'));
  });
  it('refuses symlink loops with a message naming the path', async () => {
    await expect(resolveInRoot(root, 'loop1/x')).rejects.toMatchObject({ code: 'SYMLINK_LOOP', message: '/loop1/x: a symlink loop (more than 255 links followed)' });
    await symlink('/self', join(root, 'self'));
    await expect(resolveInRoot(root, '/self')).rejects.toMatchObject({ code: 'SYMLINK_LOOP', hint: expect.stringContaining('leads back to itself') });
  });
  it('resolves paths that do not exist yet', async () => {
    expect(await resolveInRoot(root, '/bin/new/dir/')).toBe(join(root, 'usr/bin/new/dir'));
  });
});
