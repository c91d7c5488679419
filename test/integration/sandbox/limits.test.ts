/**
 * --pids-limit / --memory put each RUN in a cgroup (root on this cgroup v1 host); rootless on v1
 * has no delegation, and the build says so instead of pretending.
 */
import { describe, expect, it } from 'vitest';
import { ensureTestUser } from '../../helpers/users.js';
import { buildOnBusybox, readIn } from '../run/buildWith.js';

describe('RUN resource limits', () => {
  it('a fork bomb under --pids-limit 50 fails the step instead of exhausting the host', async () => {
    const built = await buildOnBusybox(['FROM base', "RUN sh -c 'i=0; while [ $i -lt 500 ]; do sleep 30 & i=$((i+1)); done; wait'", ''].join('\n'), {
      args: ['--pids-limit', '50'],
    });
    expect(built.result.code).not.toBe(0);
    expect(built.result.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(built.result.stderr).toContain('did not complete successfully');
  });

  it('the same step runs when it stays under the limit, and --memory kills a step that exceeds it', async () => {
    const ok = await buildOnBusybox(['FROM base', "RUN sh -c 'for i in 1 2 3; do sleep 0.1 & done; wait; echo fine > /ok'", ''].join('\n'), { args: ['--pids-limit', '50'] });
    expect(ok.result.code, ok.result.stderr).toBe(0);
    expect((await readIn(ok.rootfs, 'ok')).trim()).toBe('fine');
    const oom = await buildOnBusybox(['FROM base', "RUN sh -c 'x=$(head -c 200000000 /dev/zero | tr \"\\\\0\" a); echo ${#x}'", ''].join('\n'), { args: ['--memory', '32m'] });
    expect(oom.result.code).not.toBe(0);
    expect(oom.result.stderr).toMatch(/did not complete successfully: (exit code: 137|killed by signal SIGKILL)/);
  });

  it('rootless on cgroup v1 tells the user the limits are not applied', async () => {
    const user = await ensureTestUser();
    const built = await buildOnBusybox(['FROM base', 'RUN true', ''].join('\n'), { user, args: ['--pids-limit', '50'] });
    expect(built.result.code, built.result.stderr).toBe(0);
    expect(built.result.stderr).toContain('--memory/--cpus/--pids-limit are not applied');
  });
});
