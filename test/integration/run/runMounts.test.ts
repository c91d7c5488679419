/**
 * RUN --mount, one test per type, checked against what BuildKit's reference says the result is:
 * https://docs.docker.com/reference/dockerfile/#run---mount
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../../helpers/tmp.js';
import { buildOnBusybox, filesContaining, lastLayerEntries, readIn } from './buildWith.js';

describe('RUN --mount', () => {
  it('type=bind mounts the context read-only by default, and rw writes are discarded', async () => {
    const built = await buildOnBusybox(
      [
        'FROM base',
        'RUN --mount=type=bind,target=/ctx cat /ctx/data.txt > /copied && (touch /ctx/new 2>/dev/null && echo writable || echo readonly) > /ro',
        'RUN --mount=type=bind,source=data.txt,target=/etc/data.txt,rw sh -c "echo changed > /etc/data.txt; cat /etc/data.txt > /rw"',
        'RUN --mount=target=/ctx2 ls /ctx2 > /listing',
        '',
      ].join('\n'),
      { files: { 'data.txt': 'from the context\n' } },
    );
    expect(built.result.code, built.result.stderr).toBe(0);
    expect(await readIn(built.rootfs, 'copied')).toBe('from the context\n');
    expect(await readIn(built.rootfs, 'ro')).toBe('readonly\n');
    expect(await readIn(built.rootfs, 'rw')).toBe('changed\n');
    expect(await readIn(built.rootfs, 'listing')).toContain('Dockerfile');
    // The mount points were stubs: neither they nor the rw write end up in a layer.
    await expect(readIn(built.rootfs, 'ctx')).rejects.toThrow();
    await expect(readIn(built.rootfs, 'ctx2')).rejects.toThrow();
    await expect(readIn(built.rootfs, 'etc/data.txt')).rejects.toThrow();
  });

  it('type=bind of the context hides what .dockerignore hides, as BuildKit does, rw included', async () => {
    const files = { '.dockerignore': 'secret.env\nnode_modules\n!node_modules/keep\n', 'secret.env': 'TOKEN=hunter2\n', 'app.txt': 'app\n' };
    let ctxDir = '';
    const built = await buildOnBusybox(
      [
        'FROM base',
        'RUN --mount=type=bind,target=/ctx sh -c "cd /ctx && find . | sort > /listing"',
        'RUN --mount=type=bind,target=/ctx,rw sh -c "touch /ctx/made; ls /ctx/node_modules > /rw-listing"',
        '',
      ].join('\n'),
      {
        files,
        prepare: async (ctx) => {
          ctxDir = ctx;
          await mkdir(join(ctx, 'node_modules/drop'), { recursive: true });
          await writeFile(join(ctx, 'node_modules/keep'), 'kept\n');
          await writeFile(join(ctx, 'node_modules/drop/x'), 'x\n');
        },
      },
    );
    expect(built.result.code, built.result.stderr).toBe(0);
    const listing = (await readIn(built.rootfs, 'listing')).split('\n');
    expect(listing).toContain('./app.txt');
    expect(listing).toContain('./node_modules/keep');
    expect(listing.filter((l) => l.includes('secret') || l.includes('drop'))).toEqual([]);
    expect(await readIn(built.rootfs, 'rw-listing')).toBe('keep\n');
    // The rw write went to a throw-away copy, not to the context.
    await expect(readIn(ctxDir, 'made')).rejects.toThrow();
    // A hidden source is "not found", as in BuildKit, at its RUN line.
    const hidden = await buildOnBusybox(['FROM base', 'RUN --mount=type=bind,source=secret.env,target=/s cat /s', ''].join('\n'), { files });
    expect(hidden.result.code).toBe(1);
    expect(hidden.result.stderr).toContain('error: Dockerfile:2:1: ');
    expect(hidden.result.stderr).toContain('mount source secret.env not found in the build context');
    expect(hidden.result.stderr).not.toContain('hunter2');
  });

  it('type=bind from= another stage shows that stage, and orders the stages', async () => {
    const built = await buildOnBusybox(
      ['FROM base AS tools', 'RUN echo from-tools > /tool.txt', 'FROM base', 'RUN --mount=type=bind,from=tools,source=/tool.txt,target=/mnt/t cat /mnt/t > /got', ''].join('\n'),
    );
    expect(built.result.code, built.result.stderr).toBe(0);
    expect(await readIn(built.rootfs, 'got')).toBe('from-tools\n');
    await expect(readIn(built.rootfs, 'mnt/t')).rejects.toThrow();
  });

  it('type=cache keeps its contents between builds and out of every layer', async () => {
    const store = await makeTempDir('tsbuild-cache-store');
    const dockerfile = ['FROM base', 'ARG BUST', 'RUN --mount=type=cache,target=/var/cache/thing,uid=33,mode=0700 sh -c \'echo run >> /var/cache/thing/log; wc -l < /var/cache/thing/log > /count; stat -c "%u %a" /var/cache/thing > /owner\'', ''].join('\n');
    const first = await buildOnBusybox(dockerfile, { store, args: ['--build-arg', 'BUST=1'] });
    expect(first.result.code, first.result.stderr).toBe(0);
    expect((await readIn(first.rootfs, 'count')).trim()).toBe('1');
    expect((await readIn(first.rootfs, 'owner')).trim()).toBe('33 700');
    const second = await buildOnBusybox(dockerfile, { store, args: ['--build-arg', 'BUST=2'] });
    expect(second.result.code, second.result.stderr).toBe(0);
    expect((await readIn(second.rootfs, 'count')).trim()).toBe('2');
    await expect(readIn(second.rootfs, 'var/cache/thing/log')).rejects.toThrow();
    // Only the step's own files: no mount point stub, no copied-up /var.
    expect((await lastLayerEntries(second.layout)).sort()).toEqual(['count', 'owner']);
  });

  it('type=tmpfs gives an empty tmpfs of the given size that leaves nothing behind', async () => {
    const built = await buildOnBusybox(['FROM base', 'RUN --mount=type=tmpfs,target=/scratch,size=2m sh -c \'echo x > /scratch/f; df -k /scratch | tail -1 | awk "{print \\$1, \\$2}" > /df\'', ''].join('\n'));
    expect(built.result.code, built.result.stderr).toBe(0);
    expect((await readIn(built.rootfs, 'df')).trim()).toBe('tmpfs 2048');
    await expect(readIn(built.rootfs, 'scratch/f')).rejects.toThrow();
  });

  it('type=secret shows the secret as a file and as env, and its value lands nowhere', async () => {
    const value = `tsbuild-secret-${Math.random().toString(36).slice(2)}`;
    const dir = await makeTempDir('tsbuild-secret');
    const file = join(dir, 'token');
    await writeFile(file, value);
    const built = await buildOnBusybox(
      [
        'FROM base',
        'RUN --mount=type=secret,id=token sh -c \'wc -c < /run/secrets/token > /len; stat -c "%a %u" /run/secrets/token > /mode\'',
        'RUN --mount=type=secret,id=token,env=TOKEN,target=/custom/tok sh -c \'test "$TOKEN" = "$(cat /custom/tok)" && echo ${#TOKEN} > /envlen\'',
        'RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent',
        '',
      ].join('\n'),
      { args: ['--secret', `id=token,src=${file}`] },
    );
    expect(built.result.code, built.result.stderr).toBe(0);
    expect((await readIn(built.rootfs, 'len')).trim()).toBe(String(value.length));
    expect((await readIn(built.rootfs, 'mode')).trim()).toBe('400 0');
    expect((await readIn(built.rootfs, 'envlen')).trim()).toBe(String(value.length));
    await expect(readIn(built.rootfs, 'run/secrets/token')).rejects.toThrow();
    await expect(readIn(built.rootfs, 'custom')).rejects.toThrow();
    expect(built.result.stdout + built.result.stderr).not.toContain(value);
    expect(await filesContaining(built.layout, value)).toEqual([]);
    expect(await filesContaining(built.store, value)).toEqual([]);
    expect(await filesContaining(built.rootfs as string, value)).toEqual([]);
  });

  it('type=secret,required fails clearly when the secret is not given', async () => {
    const built = await buildOnBusybox(['FROM base', 'RUN --mount=type=secret,id=npmrc,required=true true', ''].join('\n'));
    expect(built.result.code).not.toBe(0);
    expect(built.result.stderr).toContain('Dockerfile:2');
    expect(built.result.stderr).toContain('secret npmrc is required but was not given');
  });

  it('type=ssh binds the agent socket and sets SSH_AUTH_SOCK', async () => {
    const dir = await makeTempDir('tsbuild-ssh');
    const socket = join(dir, 'agent.sock');
    const { createServer } = await import('node:net');
    const server = createServer((c) => c.end('agent-hello\n'));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const built = await buildOnBusybox(
        ['FROM base', 'RUN --mount=type=ssh sh -c \'echo "$SSH_AUTH_SOCK" > /sock; test -S "$SSH_AUTH_SOCK" && echo socket > /kind; nc local:"$SSH_AUTH_SOCK" < /dev/null > /reply || true\'', ''].join('\n'),
        { args: ['--ssh', `default=${socket}`] },
      );
      expect(built.result.code, built.result.stderr).toBe(0);
      expect((await readIn(built.rootfs, 'sock')).trim()).toBe('/run/buildkit/ssh_agent.0');
      expect((await readIn(built.rootfs, 'kind')).trim()).toBe('socket');
      await expect(readIn(built.rootfs, 'run/buildkit')).rejects.toThrow();
    } finally {
      server.close();
    }
  });

  it('refuses a bad mount option at the RUN line', async () => {
    const built = await buildOnBusybox(['FROM base', 'RUN --mount=type=cache,target=/c,sharing=sometimes true', ''].join('\n'));
    expect(built.result.code).not.toBe(0);
    expect(built.result.stderr).toContain('Dockerfile:2');
    expect(built.result.stderr).toContain('unsupported sharing value');
  });
});
