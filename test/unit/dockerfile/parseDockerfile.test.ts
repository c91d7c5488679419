import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../src/dockerfile/dockerfileError.js';
import type { Instruction } from '../../../src/dockerfile/instructions.js';
import { parseDockerfile } from '../../../src/dockerfile/parseDockerfile.js';
import { unsupportedReason } from '../../../src/dockerfile/unsupported.js';
import { TsbuildError } from '../../../src/errors.js';

function parseError(text: string, file?: string): DockerfileError {
  try {
    parseDockerfile(text, file === undefined ? {} : { file });
  } catch (err) {
    expect(err).toBeInstanceOf(DockerfileError);
    return err as DockerfileError;
  }
  throw new Error('expected the Dockerfile to be rejected');
}

function only(text: string): Instruction {
  const ast = parseDockerfile(`FROM scratch\n${text}`);
  expect(ast.stages[0]?.instructions).toHaveLength(1);
  return ast.stages[0]?.instructions[0] as Instruction;
}

describe('parseDockerfile: stages', () => {
  it('groups instructions into stages with lower-cased names and keeps global ARGs apart', () => {
    const ast = parseDockerfile(
      ['# syntax=docker/dockerfile:1', 'ARG BASE=alpine', 'FROM --platform=$BUILDPLATFORM ${BASE}:3.19 AS Builder', 'RUN make', 'FROM scratch', 'COPY --from=builder /out /'].join('\n'),
    );
    expect(ast.directives).toEqual({ syntax: 'docker/dockerfile:1' });
    expect(ast.escapeChar).toBe('\\');
    expect(ast.globalArgs.map((a) => a.args)).toEqual([[{ name: 'BASE', defaultValue: 'alpine' }]]);
    expect(ast.stages).toHaveLength(2);
    expect(ast.stages[0]).toMatchObject({
      index: 0,
      name: 'builder',
      from: { kind: 'FROM', image: '${BASE}:3.19', stageName: 'builder', platform: '$BUILDPLATFORM' },
    });
    expect(ast.stages[0]?.instructions.map((i) => i.kind)).toEqual(['RUN']);
    expect(ast.stages[1]?.name).toBeUndefined();
    expect(ast.stages[1]?.instructions[0]).toMatchObject({ kind: 'COPY', from: 'builder', sources: ['/out'], dest: '/' });
  });

  it('rejects an empty file and a file of comments like BuildKit', () => {
    expect(parseError('').detail).toBe('file with no instructions');
    expect(parseError('# just a comment\n\n   # another\n').detail).toBe('file with no instructions');
  });

  it('rejects instructions before the first FROM, except ARG', () => {
    const err = parseError('ARG X=1\nRUN echo hi\nFROM alpine');
    expect(err.message).toBe('Dockerfile:2:1: no FROM instruction before RUN');
    expect(err.code).toBe('DOCKERFILE_SYNTAX');
    expect(parseError('ARG X=1\n').detail).toMatch(/^no FROM instruction/);
  });

  it('rejects bad stage names, warns on duplicates (case-insensitively)', () => {
    expect(parseError('FROM alpine AS 1st').detail).toMatch(/invalid name for build stage/);
    // BuildKit lints duplicate names but builds; so do we, with a warning.
    const dup = parseDockerfile('FROM alpine AS build\nFROM alpine AS BUILD');
    expect(dup.warnings).toEqual([
      {
        rule: 'DuplicateStageName',
        range: { start: { line: 2, column: 1 }, end: { line: 2, column: 21 } },
        message: 'duplicate stage name "build" (first used at line 1); stage names should be unique',
      },
    ]);
    expect(parseError('FROM alpine AS').detail).toBe('FROM requires either one or three arguments');
  });
});

describe('parseDockerfile: errors carry file:line:column and hints', () => {
  it('unknown instruction with a did-you-mean hint', () => {
    const err = parseError('FROM alpine\n\n  FORM ubuntu\n', 'app/Dockerfile.dev');
    expect(err.message).toBe('app/Dockerfile.dev:3:3: unknown instruction: FORM');
    expect(err.hint).toBe('did you mean FROM?');
    expect(err.range).toEqual({ start: { line: 3, column: 3 }, end: { line: 3, column: 14 } });
    expect(err.line).toBe('FORM ubuntu');
    expect(err).toBeInstanceOf(TsbuildError);
    expect(parseError('FROM alpine\nCOPPY a b').hint).toBe('did you mean COPY?');
    expect(parseError('FROM alpine\nXYZZYQ a').hint).toBeUndefined();
  });

  it('unknown flag on a supported instruction suggests the closest one', () => {
    const err = parseError('FROM alpine\nCOPY --chwon=1:1 a /b');
    expect(err.message).toBe('Dockerfile:2:1: unknown flag --chwon for COPY');
    expect(err.hint).toBe('did you mean --chown?');
    expect(parseError('FROM alpine\nCMD --doit a').detail).toBe('unknown flag --doit for CMD');
    expect(parseError('FROM alpine\nCOPY --from a /b').detail).toBe('missing a value on flag: --from');
    expect(parseError('FROM alpine\nCOPY --chown=1 --chown=2 a /b').detail).toBe('duplicate flag specified: --chown');
  });

  it('COPY needs a destination', () => {
    expect(parseError('FROM alpine\nCOPY onlyone').detail).toMatch(/^COPY requires at least two arguments/);
  });

  it('JSON arrays must hold strings only', () => {
    expect(parseError('FROM alpine\nCMD ["echo", 1]').detail).toBe(
      'when using JSON array syntax, arrays must be comprised of strings only',
    );
  });

  it('ENV without a value is an error', () => {
    expect(parseError('FROM alpine\nENV PATH').detail).toBe('ENV must have two arguments');
  });
});

describe('parseDockerfile: instruction forms', () => {
  it('exec and shell forms; invalid JSON falls back to the shell form', () => {
    expect(only('CMD ["nginx", "-g", "daemon off;"]')).toMatchObject({ command: { form: 'exec', argv: ['nginx', '-g', 'daemon off;'] } });
    expect(only('ENTRYPOINT exec "$@"')).toMatchObject({ command: { form: 'shell', script: 'exec "$@"' } });
    expect(only('RUN ["a", "b"')).toMatchObject({ kind: 'RUN', command: { form: 'shell', script: '["a", "b"' } });
    expect(only('RUN [ "/bin/sh", "-c", "echo \\"hi\\"" ]')).toMatchObject({ command: { form: 'exec', argv: ['/bin/sh', '-c', 'echo "hi"'] } });
  });

  it('ENV and LABEL in both forms keep raw values', () => {
    expect(only('ENV PATH /usr/local/bin:$PATH   x')).toMatchObject({ pairs: [{ key: 'PATH', value: '/usr/local/bin:$PATH   x' }] });
    expect(only('ENV a=1 b="x y" c=z\\ w')).toMatchObject({
      pairs: [
        { key: 'a', value: '1' },
        { key: 'b', value: '"x y"' },
        { key: 'c', value: 'z\\ w' },
      ],
    });
    expect(only('LABEL maintainer="me <me@x.org>"')).toMatchObject({ kind: 'LABEL', pairs: [{ key: 'maintainer', value: '"me <me@x.org>"' }] });
  });

  it('ARG, WORKDIR, USER, EXPOSE', () => {
    expect(only('ARG A B=2 C="x y"')).toMatchObject({ args: [{ name: 'A' }, { name: 'B', defaultValue: '2' }, { name: 'C', defaultValue: '"x y"' }] });
    expect(only('WORKDIR /app dir')).toMatchObject({ kind: 'WORKDIR', path: '/app dir' });
    expect(only('USER 1000:1000')).toMatchObject({ kind: 'USER', user: '1000:1000' });
    expect(only('EXPOSE 80/tcp 443')).toMatchObject({ kind: 'EXPOSE', ports: ['80/tcp', '443'] });
  });

  it('COPY and ADD flags and JSON form', () => {
    expect(only('COPY --from=0 --chown=app:app --chmod=0755 a b /dst/')).toMatchObject({
      kind: 'COPY',
      from: '0',
      chown: 'app:app',
      chmod: '0755',
      sources: ['a', 'b'],
      dest: '/dst/',
      json: false,
    });
    expect(only('ADD ["my file", "/x y/"]')).toMatchObject({ kind: 'ADD', sources: ['my file'], dest: '/x y/', json: true });
    expect(parseError('FROM alpine\nADD --from=x a b').detail).toBe('unknown flag --from for ADD');
  });

  it('multi-line instructions: original joined without comment lines, range spans the lines', () => {
    const ast = parseDockerfile('FROM alpine\nRUN set -eux; \\\n# explain\n    apk add curl\nUSER nobody\n');
    const run = ast.stages[0]?.instructions[0];
    expect(run?.original).toBe('RUN set -eux;     apk add curl');
    expect(run?.range).toEqual({ start: { line: 2, column: 1 }, end: { line: 4, column: 17 } });
    expect(ast.stages[0]?.instructions[1]?.range.start.line).toBe(5);
  });

  it('honours # escape=` for continuations', () => {
    const ast = parseDockerfile('# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir C:\\ `\n    && echo done\n');
    expect(ast.escapeChar).toBe('`');
    expect(ast.stages[0]?.instructions[0]).toMatchObject({ command: { form: 'shell', script: 'dir C:\\     && echo done' } });
  });

  it('a line ending in an escaped backslash is not a continuation (BuildKit, unlike dockerfile-ast)', () => {
    const ast = parseDockerfile('FROM alpine\nENV C trailing\\\\\nENV D next\n');
    expect(ast.stages[0]?.instructions.map((i) => i.kind)).toEqual(['ENV', 'ENV']);
  });
});

describe('unsupportedReason: known but not yet built', () => {
  it('parses the rest of the language and says what is unsupported', () => {
    const ast = parseDockerfile(
      [
        'FROM alpine',
        'MAINTAINER me',
        'VOLUME ["/data"]',
        'STOPSIGNAL SIGTERM',
        'SHELL ["/bin/bash", "-c"]',
        'HEALTHCHECK --interval=5s CMD curl -f http://localhost/',
        'ONBUILD RUN make',
        'RUN --mount=type=cache,target=/root/.cache pip install x',
        'RUN --network=none true',
        'COPY --link a /b',
        'ADD https://example.com/x.tgz /x',
        'RUN echo fine',
        'COPY --chown=1:1 a /b',
        'RUN --device=/dev/fuse true',
      ].join('\n'),
    );
    const reasons = ast.stages[0]?.instructions.map(unsupportedReason);
    // Everything is built now except RUN --device (RUN --mount/--network are checked in runStep).
    expect(reasons).toEqual([...Array<undefined>(12).fill(undefined), 'RUN --device is not supported yet']);
    expect(ast.stages[0]?.instructions[4]).toMatchObject({
      kind: 'HEALTHCHECK',
      options: { interval: '5s' },
      test: { type: 'CMD', command: { form: 'shell', script: 'curl -f http://localhost/' } },
    });
  });

  it('parses heredocs without treating their bodies as instructions', () => {
    const ast = parseDockerfile('FROM alpine\nRUN <<EOF\nset -e\nFORM not an instruction\nEOF\nCOPY <<-"CFG" /etc/app.conf\n\tkey=$v\n\tCFG\nUSER app\n');
    const [run, copy, user] = ast.stages[0]?.instructions ?? [];
    expect(run).toMatchObject({ kind: 'RUN', heredocs: [{ name: 'EOF', content: 'set -e\nFORM not an instruction\n', expand: true }] });
    expect(run?.range).toEqual({ start: { line: 2, column: 1 }, end: { line: 5, column: 4 } });
    expect(copy).toMatchObject({ kind: 'COPY', heredocs: [{ name: 'CFG', chomp: true, expand: false, content: '\tkey=$v\n' }] });
    expect(user).toMatchObject({ kind: 'USER', user: 'app' });
    expect(run && unsupportedReason(run)).toBeUndefined();
    expect(parseError('FROM alpine\nRUN <<EOF\necho\n').detail).toBe('unterminated heredoc');
  });

  it('ONBUILD triggers are checked at parse time', () => {
    expect(parseError('FROM alpine\nONBUILD FORM x').detail).toBe('unknown instruction: FORM');
    expect(parseError('FROM alpine\nONBUILD FROM x').detail).toBe("FROM isn't allowed as an ONBUILD trigger");
  });
});
