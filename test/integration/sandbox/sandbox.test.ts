/**
 * The RUN sandbox blocks what Docker's default blocks: host processes are invisible, mount,
 * unshare and module loading fail with EPERM (seccomp and capabilities), /proc's kernel knobs are
 * read-only and its secrets masked, and nothing outside the rootfs is writable. A setuid binary
 * gains container root only, never host root. `--cap-add` / `--security-opt` widen on purpose.
 */
import { chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { ensureTestUser, type TestUser } from '../../helpers/users.js';
import { buildOnBusybox, readIn } from '../run/buildWith.js';

describe('RUN sandbox', () => {
  it('hides host processes and host files, and keeps writes inside the layer', async () => {
    const canaryDir = await makeTempDir('tsbuild-canary');
    await writeFile(join(canaryDir, 'canary'), 'host\n');
    const built = await buildOnBusybox(
      [
        'FROM base',
        // pid 1 is the sandbox init, the shell and ps follow: nothing of the host.
        'RUN ps -o pid= | wc -l > /procs; ls /proc | grep -c "^[0-9]" > /pids',
        `RUN (test -e ${canaryDir}/canary && echo visible || echo hidden) > /canary; echo written > /tmp-written`,
        "RUN (echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null && echo rw > /procsys || echo ro > /procsys; (echo x > /sys/kernel/test) 2>/dev/null && echo rw > /sysfs || echo ro > /sysfs",
        'RUN (dd if=/proc/timer_list bs=1 count=1 2>/dev/null | wc -c) > /timer_list; grep Seccomp: /proc/self/status | tr -d "\\t " > /seccomp',
        '',
      ].join('\n'),
    );
    expect(built.result.code, built.result.stderr).toBe(0);
    expect(Number((await readIn(built.rootfs, 'pids')).trim())).toBeLessThanOrEqual(4);
    expect((await readIn(built.rootfs, 'canary')).trim()).toBe('hidden');
    expect((await readIn(built.rootfs, 'procsys')).trim()).toBe('ro');
    expect((await readIn(built.rootfs, 'sysfs')).trim()).toBe('ro');
    expect((await readIn(built.rootfs, 'timer_list')).trim()).toBe('0');
    expect((await readIn(built.rootfs, 'seccomp')).trim()).toBe('Seccomp:2');
    expect((await readIn(built.rootfs, 'tmp-written')).trim()).toBe('written');
  });

  it('refuses mount, unshare, module loading and keyctl with EPERM', async () => {
    const built = await buildOnBusybox(
      [
        'FROM base',
        'RUN mount -t tmpfs none /mnt > /mount 2>&1; echo "exit $?" >> /mount',
        'RUN unshare -m true > /unshare 2>&1; echo "exit $?" >> /unshare',
        'RUN insmod /bin/busybox > /insmod 2>&1; echo "exit $?" >> /insmod',
        'RUN (grep CapEff /proc/self/status | tr -d "\\t") > /caps',
        '',
      ].join('\n'),
    );
    expect(built.result.code, built.result.stderr).toBe(0);
    const mount = await readIn(built.rootfs, 'mount');
    expect(mount).not.toContain('exit 0');
    expect(await readIn(built.rootfs, 'unshare')).toContain('Operation not permitted');
    expect(await readIn(built.rootfs, 'insmod')).toMatch(/Operation not permitted|not permitted/);
    // Docker's default set: chown dac_override fowner fsetid kill setgid setuid setpcap
    // net_bind_service net_raw sys_chroot mknod audit_write setfcap.
    expect((await readIn(built.rootfs, 'caps')).trim()).toBe('CapEff:00000000a80425fb');
  });

  it('--cap-add SYS_ADMIN with --security-opt seccomp=unconfined lets a RUN mount', async () => {
    const built = await buildOnBusybox(['FROM base', 'RUN mkdir -p /m && mount -t tmpfs none /m && echo mounted > /ok && umount /m', ''].join('\n'), {
      args: ['--cap-add', 'SYS_ADMIN', '--security-opt', 'seccomp=unconfined'],
    });
    expect(built.result.code, built.result.stderr).toBe(0);
    expect((await readIn(built.rootfs, 'ok')).trim()).toBe('mounted');
  });

  it('RUN --security=insecure needs --allow security.insecure', async () => {
    const built = await buildOnBusybox(['FROM base', 'RUN --security=insecure true', ''].join('\n'));
    expect(built.result.code).not.toBe(0);
    expect(built.result.stderr).toContain('Dockerfile:2');
    expect(built.result.stderr).toContain('--allow security.insecure');
  });

  describe('rootless', () => {
    let user: TestUser;
    beforeAll(async () => {
      user = await ensureTestUser();
    });

    it('a setuid binary gains container root, which is not host root', async () => {
      // busybox drops a setuid bit itself, so the probe is a small static C program.
      const probe = [
        '#include <stdio.h>',
        '#include <unistd.h>',
        'int main(void) {',
        '  char line[256] = "";',
        '  FILE *f = fopen("/proc/self/uid_map", "r");',
        '  if (f && fgets(line, sizeof line, f)) {}',
        '  printf("%u %u %s", (unsigned)getuid(), (unsigned)geteuid(), line);',
        '  return 0;',
        '}',
        '',
      ].join('\n');
      const built = await buildOnBusybox(
        ['FROM base', 'COPY probe /probe', 'RUN chmod 4755 /probe', 'USER 1234', 'RUN /probe | tr -s " " > /tmp/probe.out', ''].join('\n'),
        {
          user,
          prepare: async (ctx) => {
            await writeFile(join(ctx, 'probe.c'), probe);
            await execChecked('cc', ['-static', '-O1', '-o', join(ctx, 'probe'), join(ctx, 'probe.c')]);
            await chown(join(ctx, 'probe'), user.uid, user.gid);
          },
        },
      );
      expect(built.result.code, built.result.stderr).toBe(0);
      const [ruid, euid, inside, outside] = (await readIn(built.rootfs, 'tmp/probe.out')).trim().split(' ').map(Number);
      // Inside: euid 0 through the setuid bit (Docker leaves no_new_privs off), ruid the USER.
      expect(ruid).toBe(1234);
      expect(euid).toBe(0);
      // Container uid 0 is the user's own uid on the host, not host root.
      expect(inside).toBe(0);
      expect(outside).toBe(user.uid);
    });
  });
});
