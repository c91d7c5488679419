/**
 * Entry point: `tsbuild [build] ...`. Everything the user sees is printed here or in the
 * commands; expected failures become one message and an exit code, never a stack trace.
 */
import { Errors, run } from '@oclif/core';
import { formatError } from './formatError.js';

export const COMMAND_IDS = ['build', 'fsck', 'images', 'push'] as const;
const PASS_THROUGH = new Set(['--help', '-h', '--version', 'help']);

/** `tsbuild -t app:1 .` means `tsbuild build -t app:1 .`, as with buildah bud / docker build. */
export function withDefaultCommand(argv: readonly string[]): string[] {
  const first = argv[0];
  if (first === undefined) return ['--help'];
  if ((COMMAND_IDS as readonly string[]).includes(first) || PASS_THROUGH.has(first)) return [...argv];
  return ['build', ...argv];
}

export async function main(argv: string[]): Promise<void> {
  try {
    await run(withDefaultCommand(argv), import.meta.url);
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit;
      return;
    }
    const { text, exitCode } = formatError(err, { debug: process.env['TSBUILD_DEBUG'] === '1' });
    process.stderr.write(text);
    process.exitCode = exitCode;
  }
}
