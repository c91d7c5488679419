import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/cache/canonicalJson.js';
import { cacheKey, stateDigest } from '../../../src/cache/cacheKey.js';
import { explainMiss } from '../../../src/cache/explainMiss.js';
import { parseDockerfile } from '../../../src/dockerfile/parseDockerfile.js';
import type { Instruction } from '../../../src/dockerfile/instructions.js';
import { stepInputs, type InputView } from '../../../src/cache/stepInputs.js';
import type { ImageConfig } from '../../../src/image/types.js';

const platform = { os: 'linux', architecture: 'amd64' };
const config: ImageConfig = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] };

function instructions(text: string): Instruction[] {
  return parseDockerfile(text, { file: 'Dockerfile' }).stages[0]!.instructions;
}

function view(over: Partial<InputView> = {}): InputView {
  return {
    env: new Map(),
    args: new Map(),
    buildArgs: new Map(),
    globalArgs: new Map(),
    hashContext: async (sources) => Object.fromEntries(sources.map((s) => [s, `digest-of-${s}`])),
    copySourceLayers: async () => ['sha256:aa'],
    ...over,
  };
}

const signal = new AbortController().signal;

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined, x: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"x":2,"z":1}]},"b":1}');
  });
});

describe('stateDigest', () => {
  it('ignores history and created times but not the config or the layers', () => {
    const a = stateDigest({ config, layers: [], cmdSet: false });
    expect(stateDigest({ config: { ...config, created: '2020-01-01T00:00:00Z', history: [{ created: 'x' }] }, layers: [], cmdSet: false })).toBe(a);
    expect(stateDigest({ config: { ...config, config: { Env: ['PATH=/usr/bin'] } }, layers: [], cmdSet: false })).not.toBe(a);
    expect(stateDigest({ config, layers: [{ diffID: 'sha256:11' }], cmdSet: false })).not.toBe(a);
  });
});

describe('stepInputs', () => {
  it('gives RUN every ARG in scope, and metadata steps only what they expand', async () => {
    const [run, label] = instructions('FROM x\nRUN make\nLABEL v=$VERSION\n');
    const args = new Map([['VERSION', '1'], ['OTHER', 'a']]);
    const runInputs = await stepInputs(run!, view({ args, env: args }), signal);
    expect(runInputs.args).toEqual({ VERSION: '1', OTHER: 'a' });
    const l1 = await stepInputs(label!, view({ args, env: args }), signal);
    const l2 = await stepInputs(label!, view({ args: new Map([['VERSION', '1'], ['OTHER', 'b']]), env: new Map([['VERSION', '1'], ['OTHER', 'b']]) }), signal);
    expect(canonicalJson(l1)).toBe(canonicalJson(l2));
    const l3 = await stepInputs(label!, view({ env: new Map([['VERSION', '2']]) }), signal);
    expect(canonicalJson(l3)).not.toBe(canonicalJson(l1));
  });

  it('does not depend on where the instruction is in the file', async () => {
    const [a] = instructions('FROM x\nCOPY . /app\n');
    const [b] = instructions('FROM x\n# a comment\n\nCOPY . /app\n');
    const ka = cacheKey('sha256:p', await stepInputs(a!, view(), signal), platform);
    const kb = cacheKey('sha256:p', await stepInputs(b!, view(), signal), platform);
    expect(ka).toBe(kb);
    expect(cacheKey('sha256:q', await stepInputs(a!, view(), signal), platform)).not.toBe(ka);
    expect(cacheKey('sha256:p', await stepInputs(a!, view(), signal), { os: 'linux', architecture: 'arm64' })).not.toBe(ka);
  });

  it('hashes the context for COPY and the source layers for COPY --from', async () => {
    const [copy, from] = instructions('FROM x AS a\nCOPY src/ /app/\nCOPY --from=a /x /y\n');
    expect((await stepInputs(copy!, view(), signal)).files).toEqual({ 'src/': 'digest-of-src/' });
    expect((await stepInputs(from!, view(), signal)).sources).toEqual({ a: ['sha256:aa'] });
  });
});

describe('stepInputs for RUN --mount', () => {
  it('hashes context binds and lists the layers of a stage a mount reads', async () => {
    const [run] = instructions('FROM x AS a\nRUN --mount=type=bind,source=src,target=/src --mount=type=bind,from=a,target=/a make\n');
    const inputs = await stepInputs(run!, view({ copySourceLayers: async (_i, from) => [`layers-of-${from}`] }), signal);
    expect(inputs.files).toEqual({ src: 'digest-of-src' });
    expect(inputs.sources).toEqual({ a: ['layers-of-a'] });
    expect(inputs.mounts).toEqual(['type=bind,source=src,target=/src', 'type=bind,from=a,target=/a']);
  });
});

describe('explainMiss', () => {
  const prev = { version: 1 as const, key: 'k', parent: 'p', inputs: { instruction: { kind: 'COPY' }, files: { 'src/main.ts': 'a', 'src/util.ts': 'b' } } };
  it('names the files that changed', () => {
    expect(explainMiss(prev, { firstInStage: false, parent: 'p', inputs: { instruction: { kind: 'COPY' }, files: { 'src/main.ts': 'c', 'src/util.ts': 'b' } } })).toBe('1 file changed: src/main.ts');
  });
  it('names a changed build arg and a changed parent', () => {
    expect(explainMiss({ ...prev, inputs: { instruction: 'RUN', args: { VERSION: '1' } } }, { firstInStage: false, parent: 'q', inputs: { instruction: 'RUN', args: { VERSION: '2' } } })).toBe(
      'build arg VERSION changed; an earlier step changed the image',
    );
  });
  it('says when there is nothing to compare with', () => {
    expect(explainMiss(undefined, { firstInStage: true, parent: 'p', inputs: { instruction: 'x' } })).toBe('no earlier build of this step');
  });
});

describe('parseCacheSpec', async () => {
  const { parseCacheSpec } = await import('../../../src/cache/remoteCache.js');
  it('reads registry and local specs as buildx spells them', () => {
    expect(parseCacheSpec('type=registry,ref=r.example/app:cache,mode=max,mounts=true', 'to')).toEqual({ type: 'registry', ref: 'r.example/app:cache', mode: 'max', mounts: true });
    expect(parseCacheSpec('type=local,src=/tmp/c', 'from')).toEqual({ type: 'local', dir: '/tmp/c', mode: 'min', mounts: false });
    expect(() => parseCacheSpec('type=local,src=/tmp/c', 'to')).toThrow(/dest=DIR/);
    expect(() => parseCacheSpec('type=gha', 'to')).toThrow(/registry or local/);
  });
});

describe('cache prune sizes', async () => {
  const { parseDuration, parseSize } = await import('../../../src/cache/cacheGc.js');
  it('parses sizes and durations', () => {
    expect(parseSize('10GB')).toBe(10e9);
    expect(parseSize('512MiB')).toBe(512 * 1024 * 1024);
    expect(parseSize('1000')).toBe(1000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(() => parseDuration('soon')).toThrow(/duration/);
  });
});

describe('explainMiss of build-wide inputs', () => {
  it('names a changed SOURCE_DATE_EPOCH', () => {
    const prev = { version: 1 as const, key: 'k', parent: 'p', inputs: { instruction: 'x' }, build: { platform: 'linux/amd64' } };
    expect(explainMiss(prev, { firstInStage: false, parent: 'p', inputs: { instruction: 'x' }, build: { platform: 'linux/amd64', sourceDateEpoch: 1 } })).toBe('SOURCE_DATE_EPOCH changed');
  });
});
