/**
 * Entry point: `tsbuild [build] ...`. Everything the user sees is printed here or in the
 * commands; expected failures become one message and an exit code, never a stack trace.
 */
import { userInfo } from 'node:os';
import { Errors, run } from '@oclif/core';
import { commands } from './commands.js';
import { normalizeBooleanFlags, suggestFlag, type FlagTable } from './flagSuggest.js';
import { formatError } from './formatError.js';

export const COMMAND_IDS = ['build', 'cache', 'fsck', 'images', 'inspect', 'lint', 'login', 'logout', 'pull', 'push', 'rmi', 'tag'] as const;
const PASS_THROUGH = new Set(['--help', '-h', '--version', 'help']);

/** `tsbuild -t app:1 .` means `tsbuild build -t app:1 .`, as with buildah bud / docker build. */
export function withDefaultCommand(argv: readonly string[]): string[] {
  const first = argv[0];
  if (first === undefined) return ['--help'];
  if ((COMMAND_IDS as readonly string[]).includes(first) || Object.hasOwn(commands, first) || PASS_THROUGH.has(first)) return [...argv];
  return ['build', ...argv];
}

export async function main(argv: string[]): Promise<void> {
  try {
    // oclif asks os.userInfo() for the shell when $SHELL is unset, which throws where /etc/passwd
    // has no entry for this uid (a minimal container, e.g. one laid out for --isolation none).
    if (process.env['SHELL'] === undefined) {
      try {
        userInfo();
      } catch {
        process.env['SHELL'] = 'unknown';
      }
    }
    await run(prepareArgv(argv), import.meta.url);
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit;
      return;
    }
    const flags = flagsOf(withDefaultCommand(argv)[0]);
    const suggestion = err instanceof Errors.CLIError && flags ? suggestFlag(err.message, flags) : undefined;
    const { text, exitCode } = formatError(err, { debug: process.env['TSBUILD_DEBUG'] === '1', ...(suggestion ? { suggestion } : {}) });
    process.stderr.write(text);
    process.exitCode = exitCode;
  }
}

/** The default command, then `--flag=false` spellings of the chosen command's boolean flags. */
export function prepareArgv(argv: readonly string[]): string[] {
  const full = withDefaultCommand(argv);
  const flags = flagsOf(full[0]);
  return flags ? [full[0] as string, ...normalizeBooleanFlags(full.slice(1), flags)] : full;
}

function flagsOf(id: string | undefined): FlagTable | undefined {
  if (id === undefined || !Object.hasOwn(commands, id)) return undefined;
  return (commands as Record<string, { flags?: FlagTable }>)[id]?.flags;
}
