/** Turns any failure into the one message a user reads. Only the CLI formats errors. */
import * as Errors from '@oclif/core/errors';
import { DockerfileError } from '../dockerfile/dockerfileError.js';
import { TsbuildError } from '../errors.js';

/**
 * The exit code of a build the launcher started inside tsbuild's namespace that must run outside
 * it (isolation/launcher.ts): the helper's waiting parent runs the command again outside
 * (EXIT_LEAVE in native/tsbuild-helper.c). Nothing is printed: the user sees the second run.
 */
export const LEAVE_NAMESPACE_EXIT = 120;

export interface FormattedError {
  text: string;
  exitCode: number;
}

export function formatError(err: unknown, opts: { debug: boolean; suggestion?: string }): FormattedError {
  if (err instanceof TsbuildError && err.code === 'LEAVE_NAMESPACE') {
    return { text: opts.debug ? `debug: ${err.message}: running it again outside\n` : '', exitCode: LEAVE_NAMESPACE_EXIT };
  }
  const lines: string[] = [];
  let exitCode = 1;
  if (err instanceof DockerfileError) {
    lines.push(`error: ${err.message}`);
    if (err.line) lines.push(`  ${String(err.range.start.line).padStart(4)} | ${err.line.split('\n')[0]}`);
    if (err.hint) lines.push(`hint: ${err.hint}`);
  } else if (err instanceof TsbuildError) {
    lines.push(`error: ${err.message}`);
    if (err.hint) lines.push(`hint: ${err.hint}`);
    if (err.code === 'USAGE') exitCode = 2;
  } else if (err instanceof Errors.CLIError) {
    // oclif's parse errors (unknown flag, missing argument): a usage error.
    lines.push(`error: ${cliErrorMessage(err.message)}`);
    lines.push(opts.suggestion ? `hint: ${opts.suggestion} (see tsbuild --help)` : 'hint: see tsbuild --help');
    exitCode = 2;
  } else if (err instanceof Error && err.name === 'AbortError') {
    lines.push('error: interrupted');
    exitCode = 130;
  } else {
    // An unexpected failure is a bug: say so, and keep the stack for the report.
    const e = err instanceof Error ? err : new Error(String(err));
    lines.push(`error: internal error: ${e.message}`);
    lines.push('hint: this is a bug in tsbuild; please report it with the output of TSBUILD_DEBUG=1');
    if (!opts.debug && e.stack) lines.push(e.stack.split('\n').slice(1, 4).join('\n'));
  }
  if (opts.debug && err instanceof Error && err.stack) lines.push(err.stack);
  return { text: `${lines.join('\n')}\n`, exitCode };
}

/**
 * oclif's parse message on one line, its reason kept: "Parsing --jobs \n\tExpected an integer ...
 * \nSee more help with --help" becomes "Parsing --jobs: Expected an integer ..." (the hint line
 * below already says where help is).
 */
export function cliErrorMessage(message: string): string {
  const parts = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('See more help'));
  return parts.map((p, i) => (i < parts.length - 1 ? p.replace(/:$/, '') : p)).join(': ');
}
