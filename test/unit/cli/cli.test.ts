import { describe, expect, it } from 'vitest';
import { parseKeyValues } from '../../../src/cli/buildCommand.js';
import { cliErrorMessage, formatError } from '../../../src/cli/formatError.js';
import { withDefaultCommand } from '../../../src/cli/main.js';
import { parseOutputSpec } from '../../../src/cli/outputSpec.js';
import { DockerfileError } from '../../../src/dockerfile/dockerfileError.js';
import { TsbuildError } from '../../../src/errors.js';

describe('cli', () => {
  it('makes build the default command, like docker build', () => {
    expect(withDefaultCommand(['-t', 'app:1', '.'])).toEqual(['build', '-t', 'app:1', '.']);
    expect(withDefaultCommand(['.'])).toEqual(['build', '.']);
    expect(withDefaultCommand(['images'])).toEqual(['images']);
    expect(withDefaultCommand(['--help'])).toEqual(['--help']);
    expect(withDefaultCommand([])).toEqual(['--help']);
  });

  it('parses -o as buildx spells it', () => {
    expect(parseOutputSpec('type=oci,dest=out.tar')).toEqual({ type: 'oci', dest: 'out.tar', tar: true });
    expect(parseOutputSpec('type=oci,dest=out,tar=false')).toEqual({ type: 'oci', dest: 'out', tar: false });
    expect(parseOutputSpec('type=docker,dest=x.tar,compression=gzip,compression-level=9')).toEqual({ type: 'docker', dest: 'x.tar', tar: true, compression: 'gzip', compressionLevel: 9 });
    expect(parseOutputSpec('type=image,push=true,name=a:1,name=b:2,compression=zstd,oci-mediatypes=true')).toEqual({ type: 'registry', names: ['a:1', 'b:2'], compression: 'zstd', ociMediaTypes: true });
    expect(parseOutputSpec('type=registry')).toEqual({ type: 'registry', names: [] });
    expect(parseOutputSpec('type=local,dest=out')).toEqual({ type: 'local', dest: 'out' });
    expect(parseOutputSpec('outdir')).toEqual({ type: 'local', dest: 'outdir' });
    expect(() => parseOutputSpec('type=cacheonly')).toThrow(/not supported/);
    expect(() => parseOutputSpec('type=oci,dest=x,compression=lz4')).toThrow(/gzip or zstd/);
    expect(() => parseOutputSpec('type=oci,dest=x,compression=gzip,compression-level=12')).toThrow(/0-9/);
    expect(() => parseOutputSpec('type=oci')).toThrow(/dest/);
  });

  it('takes a bare --build-arg NAME from the environment, as docker does', () => {
    process.env['TSBUILD_TEST_ARG'] = 'from-env';
    expect(parseKeyValues(['A=1', 'B=', 'TSBUILD_TEST_ARG', 'UNSET_TSBUILD_X'], '--build-arg', true)).toEqual(
      new Map([['A', '1'], ['B', ''], ['TSBUILD_TEST_ARG', 'from-env']]),
    );
    expect(() => parseKeyValues(['noequals'], '--build-context', false)).toThrow(/NAME=VALUE/);
  });

  it('formats a Dockerfile error as one message with the line and a hint, no stack', () => {
    const err = new DockerfileError('unknown instruction: FORM', { start: { line: 3, column: 1 }, end: { line: 3, column: 5 } }, {
      line: 'FORM busybox',
      hint: 'did you mean FROM?',
    });
    const { text, exitCode } = formatError(err, { debug: false });
    expect(text).toBe('error: Dockerfile:3:1: unknown instruction: FORM\n     3 | FORM busybox\nhint: did you mean FROM?\n');
    expect(exitCode).toBe(1);
    expect(formatError(new TsbuildError('USAGE', 'bad flag'), { debug: false }).exitCode).toBe(2);
  });

  it("keeps the reason of oclif's multi-line parse errors on the error line", () => {
    expect(cliErrorMessage('Parsing --jobs \n\tExpected an integer greater than or equal to 1 but received: 0\nSee more help with --help'))
      .toBe('Parsing --jobs: Expected an integer greater than or equal to 1 but received: 0');
    expect(cliErrorMessage('Nonexistent flag: --tga\nSee more help with --help')).toBe('Nonexistent flag: --tga');
  });
});
