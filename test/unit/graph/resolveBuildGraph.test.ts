import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../src/dockerfile/dockerfileError.js';
import { parseDockerfile } from '../../../src/dockerfile/parseDockerfile.js';
import { TsbuildError } from '../../../src/errors.js';
import { resolveBuildGraph, type ResolveOptions } from '../../../src/graph/buildGraph.js';
import { topoOrder } from '../../../src/graph/topoOrder.js';

function resolve(text: string, opts: Partial<ResolveOptions> = {}) {
  return resolveBuildGraph(parseDockerfile(text), { buildArgs: new Map(), ...opts });
}

function failure(fn: () => unknown): TsbuildError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TsbuildError);
    return err as TsbuildError;
  }
  throw new Error('expected a failure');
}

const multi = [
  'ARG GO=1.22',
  'FROM golang:${GO} AS build',
  'RUN go build -o /app',
  'FROM alpine:3.19 AS tools',
  'RUN apk add curl',
  'FROM build AS test',
  'RUN go test ./...',
  'FROM scratch AS final',
  'COPY --from=BUILD /app /app',
  'COPY --from=1 /usr/bin/curl /curl',
].join('\n');

describe('resolveBuildGraph: ARG scoping in FROM', () => {
  it('expands FROM with global ARG defaults, overridden by build args', () => {
    expect(resolve(multi).stages[0]?.base).toEqual({ kind: 'image', ref: 'golang:1.22' });
    const g = resolve(multi, { buildArgs: new Map([['GO', '1.23']]) });
    expect(g.stages[0]?.base).toEqual({ kind: 'image', ref: 'golang:1.23' });
    expect(g.globalArgs.get('GO')).toBe('1.23');
  });

  it('does not let an ARG declared inside a stage reach a later FROM', () => {
    const g = resolve('FROM alpine AS a\nARG TAG=edge\nFROM alpine:${TAG:-latest}');
    expect(g.target.base).toEqual({ kind: 'image', ref: 'alpine:latest' });
  });

  it('uses builtin platform args and earlier global ARGs in defaults', () => {
    const g = resolve('ARG REG=docker.io\nARG IMG=$REG/library/alpine\nFROM --platform=$BUILDPLATFORM $IMG', {
      builtinArgs: new Map([['BUILDPLATFORM', 'linux/amd64']]),
    });
    expect(g.target).toMatchObject({ base: { kind: 'image', ref: 'docker.io/library/alpine' }, platform: 'linux/amd64' });
  });

  it('a blank base name is an error at the FROM line', () => {
    const err = failure(() => resolve('ARG IMG\nFROM $IMG'));
    expect(err).toBeInstanceOf(DockerfileError);
    expect(err.message).toBe('Dockerfile:2:1: base name ($IMG) should not be blank');
    // …but only for stages the target needs.
    expect(resolve('ARG IMG\nFROM $IMG AS unused\nFROM alpine').target.base).toEqual({ kind: 'image', ref: 'alpine' });
  });
});

describe('resolveBuildGraph: stages, targets and COPY --from', () => {
  it('builds only what the last stage needs, dependencies first', () => {
    const g = resolve(multi);
    expect(g.target.name).toBe('final');
    expect(g.stages.map((s) => s.name)).toEqual(['build', 'tools', 'final']);
    expect(g.target.deps).toEqual([0, 1]);
    expect(g.target.copyFrom).toEqual([
      { kind: 'stage', index: 0, from: 'BUILD', instructionIndex: 0 },
      { kind: 'stage', index: 1, from: '1', instructionIndex: 1 },
    ]);
    expect(g.target.base).toEqual({ kind: 'scratch' });
  });

  it('--target prunes stages the target does not need (case-insensitive)', () => {
    const g = resolve(multi, { target: 'Test' });
    expect(g.stages.map((s) => s.index)).toEqual([0, 2]);
    expect(g.target).toMatchObject({ index: 2, name: 'test', base: { kind: 'stage', index: 0 }, deps: [0] });
  });

  it('an unknown --target lists the stage names', () => {
    const err = failure(() => resolve(multi, { target: 'prod' }));
    expect(err.code).toBe('DOCKERFILE_STAGE');
    expect(err.message).toMatch(/target stage "prod" could not be found/);
    expect(err.hint).toBe('stages in the Dockerfile: build, tools, test, final');
  });

  it('FROM refers only to earlier stages; a later name is an image', () => {
    const g = resolve('FROM later AS first\nFROM alpine AS later\nFROM first', {});
    expect(g.stages.map((s) => s.index)).toEqual([0, 2]);
    expect(g.stages[0]?.base).toEqual({ kind: 'image', ref: 'later' });
  });

  it('COPY --from an unknown name is an image to pull; named contexts win over images', () => {
    const text = 'FROM alpine\nCOPY --from=nginx:1.25 /etc/nginx /n\nCOPY --from=deps /x /x\nCOPY --from=nginx:1.25 /a /a';
    const g = resolve(text, { namedContexts: new Set(['deps']) });
    expect(g.target.copyFromImages).toEqual(['nginx:1.25']);
    expect(g.target.copyFromContexts).toEqual(['deps']);
    expect(g.target.deps).toEqual([]);
    const h = resolve('FROM base\nRUN x', { namedContexts: new Set(['base']) });
    expect(h.target.base).toEqual({ kind: 'context', name: 'base' });
  });

  it('COPY --from by index must name an existing stage, and not the stage itself', () => {
    expect(failure(() => resolve('FROM alpine\nCOPY --from=3 /a /b')).message).toBe('Dockerfile:2:1: invalid stage index 3');
    const self = failure(() => resolve('FROM alpine AS me\nCOPY --from=me /a /b'));
    expect(self.code).toBe('DOCKERFILE_STAGE');
    expect(self.message).toMatch(/circular dependency detected on stage: me/);
  });

  it('COPY --from may name a later stage; a cycle through it is reported', () => {
    const ok = resolve('FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\nRUN true', { target: 'a' });
    expect(ok.stages.map((s) => s.name)).toEqual(['b', 'a']);
    const err = failure(() => resolve('FROM alpine AS a\nCOPY --from=b /x /x\nFROM a AS b'));
    expect(err.message).toMatch(/circular dependency detected on stage: a, b/);
  });

  it('with duplicate stage names, FROM takes the latest earlier one and --target the last one', () => {
    const text = 'FROM alpine AS base\nFROM debian AS base\nFROM base AS app\nFROM busybox AS base';
    expect(resolve(text, { target: 'app' }).target.base).toEqual({ kind: 'stage', index: 1 });
    expect(resolve(text, { target: 'base' }).target.index).toBe(3);
  });

  it('reports build args that no used ARG declares', () => {
    const g = resolve('ARG A\nFROM alpine AS x\nARG B\nFROM alpine\nARG C', {
      buildArgs: new Map([
        ['A', '1'],
        ['B', '2'],
        ['C', '3'],
        ['D', '4'],
        ['HTTP_PROXY', 'p'],
      ]),
    });
    expect(g.unusedBuildArgs).toEqual(['B', 'D']);
  });
});

describe('topoOrder', () => {
  it('keeps file order where the graph allows it', () => {
    const nodes = [
      { index: 0, deps: [2] },
      { index: 1, deps: [] },
      { index: 2, deps: [1] },
      { index: 3, deps: [0, 1] },
    ];
    expect(topoOrder(nodes, [0, 1, 2, 3])).toEqual([1, 2, 0, 3]);
  });
});
