/**
 * RUN heredocs as BuildKit runs them (https://docs.docker.com/reference/dockerfile/#here-documents)
 * and RUN --network.
 */
import { describe, expect, it } from 'vitest';
import { buildOnBusybox, readIn } from './buildWith.js';

describe('RUN heredocs', () => {
  it('runs every heredoc form with BuildKit semantics', async () => {
    const built = await buildOnBusybox(
      [
        'FROM base',
        'ENV WHO=world',
        'RUN <<EOF',
        'echo "plain $WHO" > /plain',
        'echo second-line >> /plain',
        'EOF',
        'RUN <<EOF',
        '#!/bin/sh',
        'echo "shebang $0" > /shebang',
        'EOF',
        'RUN <<EOF sh',
        'echo "piped to sh" > /piped',
        'EOF',
        'RUN <<-EOF',
        '\techo "tabs stripped" > /chomped',
        '\tEOF',
        "RUN <<A cat > /first && <<'B' cat > /second",
        'expanded $WHO',
        'A',
        'kept $WHO',
        'B',
        '',
      ].join('\n'),
    );
    expect(built.result.code, built.result.stderr).toBe(0);
    expect(await readIn(built.rootfs, 'plain')).toBe('plain world\nsecond-line\n');
    // A shebang body is a file executed from /dev/pipes, as BuildKit mounts it.
    expect(await readIn(built.rootfs, 'shebang')).toBe('shebang /dev/pipes/EOF\n');
    expect(await readIn(built.rootfs, 'piped')).toBe('piped to sh\n');
    expect(await readIn(built.rootfs, 'chomped')).toBe('tabs stripped\n');
    expect(await readIn(built.rootfs, 'first')).toBe('expanded world\n');
    expect(await readIn(built.rootfs, 'second')).toBe('kept $WHO\n');
    await expect(readIn(built.rootfs, 'dev/pipes/EOF')).rejects.toThrow();
  });
});

describe('RUN --network', () => {
  it('none leaves only loopback; default and host share the host network', async () => {
    const built = await buildOnBusybox(
      [
        'FROM base',
        'RUN --network=none sh -c \'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /none\'',
        'RUN --network=default sh -c \'tail -n +3 /proc/net/dev | wc -l > /default\'',
        'RUN --network=host sh -c \'tail -n +3 /proc/net/dev | wc -l > /host\'',
        '',
      ].join('\n'),
    );
    expect(built.result.code, built.result.stderr).toBe(0);
    expect((await readIn(built.rootfs, 'none')).trim()).toBe('lo');
    const { readFile } = await import('node:fs/promises');
    const hostIfaces = (await readFile('/proc/net/dev', 'utf8')).trim().split('\n').length - 2;
    expect(Number((await readIn(built.rootfs, 'default')).trim())).toBe(hostIfaces);
    expect(Number((await readIn(built.rootfs, 'host')).trim())).toBe(hostIfaces);
  });

  it('refuses an unknown network mode at its line', async () => {
    const built = await buildOnBusybox(['FROM base', 'RUN --network=bridge true', ''].join('\n'));
    expect(built.result.code).not.toBe(0);
    expect(built.result.stderr).toContain('Dockerfile:2');
    expect(built.result.stderr).toContain('unsupported network mode');
  });
});
