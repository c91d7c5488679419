import { describe, expect, it } from 'vitest';
import { addHistory, addLayer, finalizeConfig, inheritConfig, runEnvironment, scratchConfig, setEnv } from '../../../src/build/imageConfig.js';
import { destinationPath } from '../../../src/build/steps/copyStep.js';
import { componentToRegExp } from '../../../src/context/globSources.js';
import { commandArgv, expandPortSpec } from '../../../src/build/steps/metadataSteps.js';
import { parseIdFile } from '../../../src/util/parseIdFile.js';
import { modeFor, parseChmod } from '../../../src/build/steps/chmodSpec.js';

describe('image config', () => {
  const base = addLayer(scratchConfig({ architecture: 'amd64', os: 'linux' }), 'sha256:aa');

  it('inherits a base config without its created time and without sharing arrays', () => {
    const parent = { ...base, created: '2020-01-01T00:00:00Z', config: { Env: ['A=1'] } };
    const child = inheritConfig(parent);
    expect(child.created).toBeUndefined();
    const grown = addLayer(child, 'sha256:bb');
    expect(parent.rootfs.diff_ids).toEqual(['sha256:aa']);
    expect(grown.rootfs.diff_ids).toEqual(['sha256:aa', 'sha256:bb']);
  });

  it('replaces an env key in place and appends new ones, as Docker orders them', () => {
    expect(setEnv(['PATH=/bin', 'A=1'], 'PATH', '/usr/bin')).toEqual(['PATH=/usr/bin', 'A=1']);
    expect(setEnv(['PATH=/bin'], 'B', 'x=y')).toEqual(['PATH=/bin', 'B=x=y']);
  });

  it('gives RUN a default PATH and the stage ARGs, with ENV taking precedence', () => {
    const cfg = { ...base, config: { Env: ['A=env'] } };
    const env = runEnvironment(cfg, new Map([['A', 'arg'], ['B', 'arg']]));
    expect(env).toContain('A=env');
    expect(env).toContain('B=arg');
    expect(env.find((e) => e.startsWith('PATH='))).toBe('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });

  it('records history with empty_layer only for metadata steps', () => {
    const h = addHistory(addHistory(base, { createdBy: 'ENV A=1', emptyLayer: true, created: 't' }), { createdBy: 'RUN x', emptyLayer: false, created: 't' });
    expect(h.history).toEqual([
      { created: 't', created_by: 'ENV A=1', comment: 'tsbuild.dockerfile.v0', empty_layer: true },
      { created: 't', created_by: 'RUN x', comment: 'tsbuild.dockerfile.v0' },
    ]);
  });

  it('drops empty container fields when finalizing', () => {
    const f = finalizeConfig({ ...base, config: { Labels: {}, Env: ['A=1'] } }, '2024-01-01T00:00:00Z');
    expect(f.config).toEqual({ Env: ['A=1'] });
    expect(f.created).toBe('2024-01-01T00:00:00Z');
  });
});

describe('instruction helpers', () => {
  it('puts relative COPY destinations under WORKDIR and keeps "into a directory" intent', () => {
    expect(destinationPath('.', '/app')).toBe('/app/');
    expect(destinationPath('sub/', '/app')).toBe('/app/sub/');
    expect(destinationPath('file.txt', '/app')).toBe('/app/file.txt');
    expect(destinationPath('/abs/../x', '/app')).toBe('/x');
    expect(destinationPath('x', undefined)).toBe('/x');
  });

  it('expands EXPOSE port ranges and protocols like Docker', () => {
    expect(expandPortSpec('80')).toEqual(['80/tcp']);
    expect(expandPortSpec('53/UDP')).toEqual(['53/udp']);
    expect(expandPortSpec('8000-8002/tcp')).toEqual(['8000/tcp', '8001/tcp', '8002/tcp']);
  });

  it('turns shell form into the SHELL (default /bin/sh -c) and keeps exec form as is', () => {
    expect(commandArgv({ form: 'shell', script: 'echo hi' }, undefined)).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(commandArgv({ form: 'shell', script: 'x' }, ['bash', '-ec'])).toEqual(['bash', '-ec', 'x']);
    expect(commandArgv({ form: 'exec', argv: ['a', 'b'] }, ['bash', '-c'])).toEqual(['a', 'b']);
  });

  it('matches source globs per component, as Go filepath.Match', () => {
    expect(componentToRegExp('*.txt').test('a.txt')).toBe(true);
    expect(componentToRegExp('*.txt').test('a.txt.bak')).toBe(false);
    expect(componentToRegExp('file?').test('file1')).toBe(true);
    expect(componentToRegExp('[a-c]x').test('bx')).toBe(true);
    expect(componentToRegExp('[!a-c]x').test('bx')).toBe(false);
    expect(componentToRegExp('\\*').test('*')).toBe(true);
    expect(componentToRegExp('\\*').test('a')).toBe(false);
  });

  it('parses passwd/group files and octal --chmod', () => {
    expect(parseIdFile('root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n#bad\n')).toEqual([
      { name: 'root', id: 0, gid: 0 },
      { name: 'app', id: 1000, gid: 1001 },
    ]);
    expect(parseChmod('0755')).toBe(0o755);
    expect(parseChmod('640')).toBe(0o640);
    expect(() => parseChmod('u+q')).toThrow(/octal mode .* or a symbolic one/);
    expect(() => parseChmod('0955')).toThrow(/invalid --chmod/);
  });
});

describe('symbolic --chmod, as chmod(1) applies it to each source mode', () => {
  const apply = (spec: string, mode: number, isDir = false) => modeFor(parseChmod(spec), mode, isDir);
  it('adds, removes and sets bits per class', () => {
    expect(apply('u+x,g-w,o=r', 0o664)).toBe(0o744);
    expect(apply('+x', 0o644)).toBe(0o755);
    expect(apply('a-w', 0o666)).toBe(0o444);
    expect(apply('go=', 0o755)).toBe(0o700);
    expect(apply('g=u', 0o640)).toBe(0o660);
    expect(apply('u+s,+t', 0o755)).toBe(0o5755);
  });
  it('gives X to directories and already-executable files only', () => {
    expect(apply('u=rw,go=rX', 0o600)).toBe(0o644);
    expect(apply('u=rwX,go=rX', 0o700, true)).toBe(0o755);
    expect(apply('u=rwX,go=rX', 0o744)).toBe(0o755);
  });
});
