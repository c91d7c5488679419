import { describe, expect, it } from 'vitest';
import { lintDockerfile, parseCheckDirective } from '../../../src/graph/lintDockerfile.js';
import { platformArgs, proxyBuildArgs } from '../../../src/graph/platformArgs.js';
import { resolveBuildGraph } from '../../../src/graph/buildGraph.js';
import { parseDockerfile } from '../../../src/dockerfile/parseDockerfile.js';

const lint = (text: string, buildArgs: Record<string, string> = {}, target?: string) =>
  lintDockerfile(text, { buildArgs: new Map(Object.entries(buildArgs)), builtinArgs: platformArgs({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' }), ...(target ? { target } : {}) });
const rules = (r: ReturnType<typeof lint>) => r.problems.map((p) => `${p.level}:${p.rule}@${p.range?.start.line ?? '-'}`);

describe('lintDockerfile', () => {
  it('passes a clean Dockerfile', () => {
    const r = lint('ARG V=1\nFROM busybox:${V} AS base\nCMD ["sh"]\nFROM base\nARG TARGETARCH\nRUN echo $TARGETARCH\n');
    expect(r.problems).toEqual([]);
    expect(r.failed).toBe(false);
  });

  it('reports BuildKit-style warnings with their lines, without failing', () => {
    const r = lint(['FROM busybox AS a', 'MAINTAINER me', 'CMD echo hi', 'CMD ["x"]', 'FROM ${BASE} as b', 'FROM alpine AS a', 'ENTRYPOINT run'].join('\n'), { UNUSED: '1' });
    expect(rules(r)).toEqual([
      'warning:UnusedBuildArg@-',
      'warning:MaintainerDeprecated@2',
      'warning:JSONArgsRecommended@3',
      'warning:MultipleInstructionsDisallowed@4',
      'warning:UndefinedArgInFrom@5',
      'warning:FromAsCasing@5',
      'warning:DuplicateStageName@6',
      'warning:JSONArgsRecommended@7',
    ]);
    expect(r.problems.find((p) => p.rule === 'UndefinedArgInFrom')?.message).toBe("FROM argument 'BASE' is not declared");
    expect(r.failed).toBe(false);
  });

  it('reports parse errors (unknown instruction, unknown flag) as errors with a location', () => {
    const bad = lint('FROM busybox\nCOPPY a b\n');
    expect(bad.failed).toBe(true);
    expect(bad.problems[0]).toMatchObject({ level: 'error', range: { start: { line: 2 } } });
    expect(bad.problems[0]?.message).toMatch(/COPY/);
    const flag = lint('FROM busybox\nCOPY --chwon=1 a b\n');
    expect(flag.failed).toBe(true);
    expect(flag.problems[0]?.message).toMatch(/--chown/);
  });

  it('reports stage graph errors: unknown --target, a stage built on a later one', () => {
    const r = lint('FROM busybox AS a\n', {}, 'nope');
    expect(r.failed).toBe(true);
    expect(r.problems[0]?.message).toMatch(/target stage "nope" could not be found/);
    expect(rules(lint('FROM later AS first\nFROM busybox AS later\n'))).toEqual(['warning:UndefinedStage@1']);
  });

  it('honours # check=skip=... and # check=error=true', () => {
    const text = 'FROM busybox\nMAINTAINER me\nCMD echo hi\n';
    expect(rules(lint(`# check=skip=JSONArgsRecommended\n${text}`))).toEqual(['warning:MaintainerDeprecated@3']);
    expect(lint(`# check=skip=all\n${text}`).problems).toEqual([]);
    const strict = lint(`# check=error=true\n${text}`);
    expect(strict.warningsAreErrors).toBe(true);
    expect(strict.failed).toBe(true);
    expect(lint('# check=error=true\nFROM busybox\nCMD ["sh"]\n').failed).toBe(false);
    expect(lint(text, { BUILDKIT_DOCKERFILE_CHECK: 'skip=all' }).problems).toEqual([]);
    expect(parseCheckDirective('skip=A, B;error=true')).toEqual({ skip: new Set(['A', 'B']), skipAll: false, error: true });
    expect(lint(`# check=bogus\n${text}`).failed).toBe(true);
  });
});

describe('platform and proxy args', () => {
  it('gives the platform ARGs in normal form', () => {
    const args = platformArgs({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(Object.fromEntries(args)).toEqual({
      TARGETPLATFORM: 'linux/arm/v7',
      TARGETOS: 'linux',
      TARGETARCH: 'arm',
      TARGETVARIANT: 'v7',
      BUILDPLATFORM: 'linux/arm64',
      BUILDOS: 'linux',
      BUILDARCH: 'arm64',
      BUILDVARIANT: '',
    });
  });

  it('lets FROM use them undeclared, and never calls proxy build args unused', () => {
    const builtinArgs = platformArgs({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' });
    const g = resolveBuildGraph(parseDockerfile('FROM busybox:${TARGETARCH}\n'), { buildArgs: new Map([['HTTP_PROXY', 'http://p'], ['no_proxy', 'x'], ['OTHER', '1']]), builtinArgs });
    expect(g.stages[0]?.base).toEqual({ kind: 'image', ref: 'busybox:amd64' });
    expect(g.unusedBuildArgs).toEqual(['OTHER']);
    expect(Object.fromEntries(proxyBuildArgs(new Map([['HTTP_PROXY', 'http://p'], ['OTHER', '1']])))).toEqual({ HTTP_PROXY: 'http://p' });
  });
});
