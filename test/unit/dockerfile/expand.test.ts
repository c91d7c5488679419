import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../src/dockerfile/dockerfileError.js';
import { expandInstruction, expandWord, expandWords, ExpansionError } from '../../../src/dockerfile/expand.js';
import type { Instruction } from '../../../src/dockerfile/instructions.js';
import { parseDockerfile } from '../../../src/dockerfile/parseDockerfile.js';

const env = new Map([
  ['FILE', 'archive.tar.gz'],
  ['PATHV', '/usr/local/bin:/usr/bin:/bin'],
  ['EMPTY', ''],
  ['PORTS', '80 443'],
]);

function instr(line: string): Instruction {
  return parseDockerfile(`FROM scratch\n${line}`).stages[0]?.instructions[0] as Instruction;
}

describe('expandWord: parameter expansion beyond the conformance table', () => {
  it.each([
    ['${FILE#*.}', 'tar.gz'],
    ['${FILE##*.}', 'gz'],
    ['${FILE%.*}', 'archive.tar'],
    ['${FILE%%.*}', 'archive'],
    ['${PATHV/bin/sbin}', '/usr/local/sbin:/usr/bin:/bin'],
    ['${PATHV//bin/X}', '/usr/local/X:/usr/X:/X'],
    ['${FILE#nomatch}', 'archive.tar.gz'],
    ['${FILE/a?c/Z}', 'Zhive.tar.gz'],
    ['${FILE%.gz}', 'archive.tar'],
    ['${EMPTY-unset}', ''],
    ['${EMPTY:-unset}', 'unset'],
    ['${NOPE+set}', ''],
    ['${EMPTY+set}', 'set'],
    ['${EMPTY:+set}', ''],
  ])('%s → %s', (word, expected) => {
    expect(expandWord(word, env)).toBe(expected);
  });

  it('only \\*, \\? and \\\\ may be escaped in a pattern, as in BuildKit', () => {
    expect(() => expandWord('${FILE%\\.gz}', env)).toThrow(/invalid escape/);
    expect(expandWord('${X#\\*}', new Map([['X', '*a']]))).toBe('a');
  });

  it('${VAR:?msg} fails with the expanded message', () => {
    expect(() => expandWord('${NOPE:?need $FILE}', env)).toThrow(/NOPE: need archive.tar.gz/);
    expect(() => expandWord('${EMPTY:?}', env)).toThrow(/EMPTY: is not allowed to be empty/);
    expect(() => expandWord('${NOPE?}', env)).toThrow(ExpansionError);
    expect(expandWord('${EMPTY?}', env)).toBe('');
  });

  it('accepts a lookup function and the backtick escape', () => {
    expect(expandWord('$A-`$A', (n) => (n === 'A' ? 'x' : undefined), { escapeChar: '`' })).toBe('x-$A');
    expect(expandWord('C:\\dir\\$A', (n) => (n === 'A' ? 'x' : undefined), { escapeChar: '`' })).toBe('C:\\dir\\x');
  });

  it('expandWords splits unquoted expansions only', () => {
    expect(expandWords('$PORTS "$PORTS" 8080', env)).toEqual(['80', '443', '80 443', '8080']);
  });

  it('errors have the DOCKERFILE_EXPAND code', () => {
    try {
      expandWord('${FILE', env);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ExpansionError);
      expect((err as ExpansionError).code).toBe('DOCKERFILE_EXPAND');
      expect((err as ExpansionError).message).toBe('expanding "${FILE": syntax error: missing \'}\'');
    }
  });
});

describe('expandInstruction', () => {
  it('expands the fields BuildKit expands', () => {
    expect(expandInstruction(instr('ENV A=$FILE B="x  y" ${EMPTY}C=1'), env)).toMatchObject({
      pairs: [
        { key: 'A', value: 'archive.tar.gz' },
        { key: 'B', value: 'x  y' },
        { key: 'C', value: '1' },
      ],
    });
    expect(expandInstruction(instr('COPY --chown=${U:-app} "$FILE" /opt/${FILE%%.*}/'), env)).toMatchObject({
      sources: ['archive.tar.gz'],
      dest: '/opt/archive/',
      chown: 'app',
    });
    expect(expandInstruction(instr('EXPOSE $PORTS 9000/udp'), env)).toMatchObject({ ports: ['80', '443', '9000/udp'] });
    expect(expandInstruction(instr('WORKDIR /srv/$FILE'), env)).toMatchObject({ path: '/srv/archive.tar.gz' });
    expect(expandInstruction(instr('USER ${NOPE:-nobody}'), env)).toMatchObject({ user: 'nobody' });
    expect(expandInstruction(instr('LABEL "v"="$FILE"'), env)).toMatchObject({ pairs: [{ key: 'v', value: 'archive.tar.gz' }] });
    expect(expandInstruction(instr('ARG X=$FILE'), env)).toMatchObject({ args: [{ name: 'X', defaultValue: 'archive.tar.gz' }] });
  });

  it('leaves RUN, CMD and ENTRYPOINT to the shell', () => {
    const run = instr('RUN echo $FILE');
    expect(expandInstruction(run, env)).toEqual(run);
    const cmd = instr('CMD ["echo", "$FILE"]');
    expect(expandInstruction(cmd, env)).toEqual(cmd);
  });

  it('turns expansion errors into DockerfileErrors at the instruction', () => {
    const i = parseDockerfile('FROM scratch\n\nWORKDIR ${DIR:?set DIR}').stages[0]?.instructions[0] as Instruction;
    try {
      expandInstruction(i, env, { file: 'Dockerfile.web' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DockerfileError);
      const e = err as DockerfileError;
      expect(e.code).toBe('DOCKERFILE_EXPAND');
      expect(e.message).toBe('Dockerfile.web:3:1: expanding "${DIR:?set DIR}": DIR: set DIR');
    }
  });
});
