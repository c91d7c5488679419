import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTsbuildError } from '../../../src/errors.js';
import { NamespaceRuntime, type RunResult, type RunSpec } from '../../../src/isolation/runtime.js';
import { compileHelper, makeBusyboxRootfs } from './fixtures.js';

// RUN without `enter` needs real root (the helper's run mode makes no user namespace); the
// unprivileged path is covered by enter.test.ts.
const isRoot = process.getuid?.() === 0;

let base: string;
let lower: string;
let runtime: NamespaceRuntime;

interface Outcome extends RunResult {
  stdout: string;
  stderr: string;
  upper: string;
}

async function runStep(argv: string[], over: Partial<RunSpec> = {}, signal = new AbortController().signal): Promise<Outcome> {
  const dir = await mkdtemp(join(base, 'step-'));
  const [upper, work, mnt] = [join(dir, 'upper'), join(dir, 'work'), join(dir, 'mnt')];
  await Promise.all([mkdir(upper), mkdir(work), mkdir(mnt)]);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const result = await runtime.run(
    {
      rootfs: { lowerdirs: [lower], upperdir: upper, workdir: work, userxattr: false },
      mountpoint: mnt,
      argv,
      env: ['PATH=/bin', 'HOME=/root'],
      cwd: '/',
      user: '',
      hostname: 'step-host',
      network: 'host',
      ...over,
    },
    { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) },
    signal,
  );
  return { ...result, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), upper };
}

async function setupFailure(argv: string[], over: Partial<RunSpec>): Promise<{ code: string; message: string; hint?: string }> {
  try {
    await runStep(argv, over);
  } catch (err) {
    if (isTsbuildError(err)) return { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
    throw err;
  }
  throw new Error('expected the step to fail during setup');
}

describe.skipIf(!isRoot)('NamespaceRuntime (as root)', () => {
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'tsb-iso-rt-'));
    lower = join(base, 'lower');
    await makeBusyboxRootfs(lower);
    runtime = new NamespaceRuntime({ helperPath: await compileHelper(base), killGraceMs: 500 });
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it("passes the command's exit code through", async () => {
    const r = await runStep(['sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r).toMatchObject({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });
    expect(r.signal).toBeUndefined();
  });

  it('exits 127 for a missing command and 126 for a file that is not executable', async () => {
    const missing = await runStep(['nonexistent']);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain('"nonexistent": executable file not found in $PATH');
    expect((await runStep(['/notexec'])).exitCode).toBe(126);
    expect((await runStep(['/no/such/file'])).exitCode).toBe(127);
  });

  it('writes land in the upper dir and a deleted lower file becomes a 0/0 whiteout', async () => {
    const r = await runStep(['sh', '-c', 'echo hello > /data/new && rm /data/victim']);
    expect(r.exitCode).toBe(0);
    expect(await readFile(join(r.upper, 'data', 'new'), 'utf8')).toBe('hello\n');
    const wh = await lstat(join(r.upper, 'data', 'victim'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    // the lower layer is untouched
    expect(await readFile(join(lower, 'data', 'victim'), 'utf8')).toBe('delete me\n');
    // mount points and bound files leave nothing behind in the layer
    expect((await readdir(r.upper)).sort()).toEqual(['data']);
  });

  it('runs as the requested user, numeric or by name with its groups', async () => {
    expect((await runStep(['id', '-u'], { user: '1000:1000' })).stdout).toBe('1000\n');
    expect((await runStep(['sh', '-c', 'id -u; id -g; id -G'], { user: 'app' })).stdout).toBe('1000\n1000\n1000 2000\n');
    expect((await runStep(['sh', '-c', 'id -u; id -g'], { user: '4242' })).stdout).toBe('4242\n0\n');
    expect((await runStep(['id', '-u'])).stdout).toBe('0\n');
  });

  it('reports an unknown user as Docker does', async () => {
    const f = await setupFailure(['true'], { user: 'bob' });
    expect(f.code).toBe('ISOLATION_SETUP');
    expect(f.message).toBe('setting up the RUN sandbox: resolve user: unable to find user bob: no matching entries in passwd file');
  });

  it('creates and enters the working directory', async () => {
    const r = await runStep(['pwd'], { cwd: '/srv/app/sub' });
    expect(r.stdout).toBe('/srv/app/sub\n');
    expect((await stat(join(r.upper, 'srv', 'app', 'sub'))).isDirectory()).toBe(true);
  });

  it('passes the environment exactly', async () => {
    const env = ['PATH=/bin', 'A=1', 'SPACES=a b  c', 'EQ=x=y', 'EMPTY='];
    const r = await runStep(['env'], { env });
    expect(r.stdout.trimEnd().split('\n').sort()).toEqual([...env].sort());
  });

  it('has its own pid namespace and hostname', async () => {
    const r = await runStep(['sh', '-c', 'echo $$; hostname; ls -d /proc/[0-9]* | wc -l'], { hostname: 'builder-7' });
    const [pid, host, count] = r.stdout.trim().split('\n');
    expect(pid).toBe('2'); // pid 1 is the helper's init
    expect(host).toBe('builder-7');
    expect(Number(count)).toBeLessThanOrEqual(5); // init, sh, ls, wc (and nothing of the host)
  });

  it('kills what the command left running when it ends', async () => {
    const marker = String(90000 + Math.floor(Math.random() * 9999));
    const started = Date.now();
    const r = await runStep(['sh', '-c', `sleep ${marker} & echo started`]);
    expect(r.stdout).toBe('started\n');
    expect(Date.now() - started).toBeLessThan(5000);
    const leftovers: string[] = [];
    for (const p of await readdir('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      const cmdline = await readFile(join('/proc', p, 'cmdline'), 'utf8').catch(() => '');
      if (cmdline.split('\0').includes(marker)) leftovers.push(p);
    }
    expect(leftovers).toEqual([]);
  });

  it('has only loopback, and it is up, with network none', async () => {
    const r = await runStep(['sh', '-c', 'cat /proc/net/dev | grep : | wc -l; cat /sys/class/net/lo/operstate'], { network: 'none' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('1');
    const hostNet = await runStep(['sh', '-c', 'cat /proc/net/dev | grep -c :']);
    expect(Number(hostNet.stdout.trim())).toBeGreaterThanOrEqual(1);
  });

  it('surfaces a setup failure with its step', async () => {
    const f = await setupFailure(['true'], { rootfs: { lowerdirs: [join(base, 'missing')], upperdir: join(base, 'u'), workdir: join(base, 'w'), userxattr: false } });
    expect(f.code).toBe('ISOLATION_SETUP');
    expect(f.message).toMatch(/^setting up the RUN sandbox: mount rootfs: mounting overlay on .*No such file or directory/);
    expect(f.hint).toContain('overlayfs');
  });

  it('binds the hosts file read-only over an existing file and skips a missing one', async () => {
    const hosts = join(base, 'hosts');
    await writeFile(hosts, '10.1.2.3 from-spec\n');
    const r = await runStep(
      ['sh', '-c', 'cat /etc/hosts; echo x >> /etc/hosts || echo readonly; ls /etc/resolv.conf 2>/dev/null || echo no-resolv'],
      { etcHosts: hosts },
    );
    expect(r.stdout).toBe('10.1.2.3 from-spec\nreadonly\nno-resolv\n');
    expect(await readdir(r.upper)).toEqual([]);
  });

  it('gives a /dev with the usual nodes and reads stdin as /dev/null', async () => {
    const r = await runStep(['sh', '-c', 'ls /dev | sort | grep -v "^pts$" ; cat; echo end']);
    expect(r.stdout).toBe(['fd', 'full', 'null', 'ptmx', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero', 'end', ''].join('\n'));
  });

  it('drops capabilities to the Docker default set', async () => {
    const r = await runStep(['sh', '-c', 'grep -E "^Cap(Eff|Bnd)" /proc/self/status; grep NoNewPrivs /proc/self/status']);
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    // Docker leaves no_new_privs off unless --security-opt no-new-privileges asks for it.
    expect(r.stdout).toBe('CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t0\n');
    const nnp = await runStep(['grep', 'NoNewPrivs', '/proc/self/status'], { noNewPrivileges: true });
    expect(nnp.stdout).toBe('NoNewPrivs:\t1\n');
    const user = await runStep(['grep', '^CapEff', '/proc/self/status'], { user: '1000' });
    expect(user.stdout).toBe('CapEff:\t0000000000000000\n');
  });

  it('reports a command killed by a signal', async () => {
    const r = await runStep(['sh', '-c', 'kill -9 $$']);
    expect(r).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('aborts a running step', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stop')), 300);
    await expect(runStep(['sleep', '30'], {}, controller.signal)).rejects.toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('kills a step that ignores SIGTERM after the grace period, with everything it started', async () => {
    const controller = new AbortController();
    const marker = String(80000 + Math.floor(Math.random() * 9999));
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stop')), 300);
    const run = runStep(['sh', '-c', `trap "" TERM; sleep ${marker}; echo never`], {}, controller.signal);
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - started).toBeLessThan(3000); // 300 ms + 500 ms grace + slack
    const leftovers: string[] = [];
    for (const p of await readdir('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      const cmdline = await readFile(join('/proc', p, 'cmdline'), 'utf8').catch(() => '');
      if (cmdline.split('\0').includes(marker)) leftovers.push(p);
    }
    expect(leftovers).toEqual([]);
  });

  it('mounts a rootfs without layers on emptyLowerdir', async () => {
    const dir = await mkdtemp(join(base, 'scratch-'));
    await Promise.all(['empty', 'u', 'w'].map((d) => mkdir(join(dir, d))));
    const r = await runStep(['/bin/sh'], {
      rootfs: { lowerdirs: [], upperdir: join(dir, 'u'), workdir: join(dir, 'w'), userxattr: false },
      emptyLowerdir: join(dir, 'empty'),
    });
    // root needs no /etc/passwd, so setup succeeds and only the exec fails
    expect(r.exitCode).toBe(127);
    // the mount points had to be created, in the layer (as runc does)
    expect((await readdir(join(dir, 'u'))).sort()).toEqual(['dev', 'proc', 'sys']);
    expect(await readdir(join(dir, 'empty'))).toEqual([]);
  });
});
