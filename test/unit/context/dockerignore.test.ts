import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ignoreFilter, loadDockerignore, readIgnoreFile } from '../../../src/context/dockerignore.js';
import { PatternMatcher } from '../../../src/context/patternMatcher.js';
import { readDockerfile } from '../../../src/context/readDockerfile.js';
import { TsbuildError } from '../../../src/errors.js';
import { makeTempDir } from '../../helpers/tmp.js';

const filterOf = (text: string) => ignoreFilter(new PatternMatcher(readIgnoreFile(text)));

describe('ignoreFilter', () => {
  it('hides matches and everything under a matched directory', () => {
    const f = filterOf('node_modules\n*.log\n');
    expect(f('node_modules', true)).toBe(true);
    expect(f('node_modules/x/y.js', false)).toBe(true);
    expect(f('app.log', false)).toBe(true);
    expect(f('src/app.log', false)).toBe(false); // `*` does not cross `/`
    expect(f('src/app.ts', false)).toBe(false);
    expect(f('', true)).toBe(false); // the context root itself is never hidden
  });

  it('walks into a hidden directory when an exception may re-include something in it', () => {
    const f = filterOf('docs\n!docs/README.md\n');
    expect(f('docs', true)).toBe(false);
    expect(f('docs/guide.md', false)).toBe(true);
    expect(f('docs/README.md', false)).toBe(false);
    const g = filterOf('docs\n!src/keep\n');
    expect(g('docs', true)).toBe(true);
  });

  it('reads `**`, leading `/` and `..` as Docker does', () => {
    const f = filterOf('**/*.tmp\n/build\nsub/../secret\n# comment\n');
    expect(f('a/b/c.tmp', false)).toBe(true);
    expect(f('c.tmp', false)).toBe(true);
    expect(f('build', true)).toBe(true);
    expect(f('secret', false)).toBe(true);
    expect(f('# comment', false)).toBe(false);
  });
});

describe('loadDockerignore', () => {
  it('prefers <Dockerfile>.dockerignore next to the Dockerfile over the context .dockerignore', async () => {
    const dir = await makeTempDir('ignore');
    await writeFile(join(dir, '.dockerignore'), 'a\n');
    await mkdir(join(dir, 'docker'));
    await writeFile(join(dir, 'docker', 'app.Dockerfile'), 'FROM scratch\n');
    await writeFile(join(dir, 'docker', 'app.Dockerfile.dockerignore'), 'b\n');
    const specific = await loadDockerignore(dir, join(dir, 'docker', 'app.Dockerfile'));
    expect(specific.file).toBe(join(dir, 'docker', 'app.Dockerfile.dockerignore'));
    expect(specific.filter?.('b', false)).toBe(true);
    expect(specific.filter?.('a', false)).toBe(false);
    const plain = await loadDockerignore(dir, join(dir, 'Dockerfile'));
    expect(plain.file).toBe(join(dir, '.dockerignore'));
    expect(plain.filter?.('a', false)).toBe(true);
    const stdin = await loadDockerignore(dir, undefined);
    expect(stdin.file).toBe(join(dir, '.dockerignore'));
  });

  it('has no filter without an ignore file, and fails clearly on a lone "!"', async () => {
    const dir = await makeTempDir('ignore');
    expect((await loadDockerignore(dir, undefined)).filter).toBeUndefined();
    await writeFile(join(dir, '.dockerignore'), 'ok\n!\n');
    const err = await loadDockerignore(dir, undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsbuildError);
    expect((err as TsbuildError).message).toMatch(/\.dockerignore: invalid \.dockerignore pattern "!"/);
  });
});

describe('readDockerfile', () => {
  it('reads `-f -` from stdin and a path otherwise', async () => {
    const fromStdin = await readDockerfile('-', '/nonexistent', () => Readable.from([Buffer.from('FROM scratch\n')]));
    expect(fromStdin).toEqual({ text: 'FROM scratch\n', name: 'Dockerfile', path: undefined });
    const dir = await makeTempDir('df');
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\n');
    expect((await readDockerfile(undefined, dir, () => Readable.from([]))).text).toBe('FROM busybox\n');
    await expect(readDockerfile('nope.Dockerfile', dir, () => Readable.from([]))).rejects.toThrow(/no such file/);
  });
});
