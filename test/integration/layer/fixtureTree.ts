import { chmod, chown, link, lutimes, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lsetxattr, mknodChar, mknodRaw } from '../../../src/util/fsx.js';

export const LONG_NAME = `deep/${'d'.repeat(60)}/${'f'.repeat(80)}.txt`;

/**
 * An overlay upper dir with every kind of entry a layer can hold (the tests run as root, so
 * devices, whiteouts, foreign owners and trusted xattrs are allowed).
 */
export async function makeUpperTree(dir: string, flavor: 'user' | 'trusted' = 'trusted'): Promise<void> {
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc/hosts'), '127.0.0.1 localhost\n');
  await symlink('hosts', join(dir, 'etc/hosts.link'));
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin/su'), '#!/bin/sh\necho su\n');
  await chmod(join(dir, 'bin/su'), 0o4755);
  await writeFile(join(dir, 'bin/a'), 'shared inode');
  await link(join(dir, 'bin/a'), join(dir, 'bin/b'));
  await mkdir(join(dir, 'home/app'), { recursive: true });
  await writeFile(join(dir, 'home/app/data'), Buffer.alloc(70_000, 'x'));
  await chown(join(dir, 'home/app/data'), 1000, 1001);
  await chown(join(dir, 'home/app'), 1000, 1001);
  await chmod(join(dir, 'home/app'), 0o1777);
  await lsetxattr(join(dir, 'home/app/data'), 'user.comment', Buffer.from('kept'));
  await mkdir(join(dir, 'run'));
  await mknodRaw(join(dir, 'run/fifo'), 0o010000 | 0o600, 0, 0);
  await mknodChar(join(dir, 'gone'), 0, 0);
  await mkdir(join(dir, 'opq'));
  await writeFile(join(dir, 'opq/only'), 'only this survives');
  await lsetxattr(join(dir, 'opq'), `${flavor}.overlay.opaque`, Buffer.from('y'));
  await mkdir(join(dir, LONG_NAME, '..'), { recursive: true });
  await writeFile(join(dir, LONG_NAME), 'long');
  await mknodChar(join(dir, 'run/null'), 1, 3);
  // Explicit modes: the umask must not change the archive (mkdir, mknod and writeFile obey it).
  for (const p of ['etc', 'bin', 'home', 'run', 'opq', 'deep', join(LONG_NAME, '..')]) await chmod(join(dir, p), 0o755);
  for (const p of ['etc/hosts', 'bin/a', 'opq/only', 'home/app/data', LONG_NAME]) await chmod(join(dir, p), 0o644);
  await chmod(join(dir, 'run/null'), 0o666);
  // Fixed times make the tree's archive reproducible without SOURCE_DATE_EPOCH too.
  for (const p of ['etc/hosts', 'bin/su', 'bin/a', 'home/app/data', 'run/fifo', 'gone', 'opq/only', LONG_NAME, 'run/null']) {
    await utimes(join(dir, p), 1_600_000_000, 1_600_000_000);
  }
  await lutimes(join(dir, 'etc/hosts.link'), 1_600_000_000, 1_600_000_000);
}
