/**
 * Entry point: `tsbuild [build] ...`. Everything the user sees is printed here or in the
 * commands; expected failures become one message and an exit code, never a stack trace.
 * A build takes the lean path (cli/leanBuild.ts), which never loads the `@oclif/core` index;
 * help, --version and the other commands go through oclif's `run`.
 */
import { userInfo } from 'node:os';
import * as Errors from '@oclif/core/errors';
import { BUILD_FLAGS } from './buildFlags.js';
import { normalizeBooleanFlags, suggestFlag, type FlagTable } from './flagSuggest.js';
import { formatError } from './formatError.js';
import type { MemoIdentity } from './buildMemo.js';

/** Every command's id (commands.ts is the table; a unit test keeps the two equal), known here without loading any command. */
export const COMMAND_IDS = ['bake', 'build', 'cache', 'completion', 'fsck', 'images', 'info', 'inspect', 'lint', 'login', 'logout', 'pull', 'push', 'rmi', 'tag'] as const;
export const PASS_THROUGH = new Set(['--help', '-h', '--version', 'help']);

/** `tsbuild -t app:1 .` means `tsbuild build -t app:1 .`, as with buildah bud / docker build. */
export function withDefaultCommand(argv: readonly string[]): string[] {
  const first = argv[0];
  if (first === undefined) return ['--help'];
  if ((COMMAND_IDS as readonly string[]).includes(first) || PASS_THROUGH.has(first)) return [...argv];
  return ['build', ...argv];
}

/** `opts.memo`: the invocation, when a build may leave its record (the start-up snapshot's builds). */
export async function main(argv: string[], opts: { memo?: MemoIdentity } = {}): Promise<void> {
  const full = withDefaultCommand(argv);
  try {
    if (full[0] === 'build' && !wantsHelp(full)) {
      const { leanBuild } = await import('./leanBuild.js');
      await leanBuild(full.slice(1), opts);
      return;
    }
    // oclif asks os.userInfo() for the shell when $SHELL is unset, which throws where /etc/passwd
    // has no entry for this uid (a minimal container, e.g. one laid out for --isolation none).
    if (process.env['SHELL'] === undefined) {
      try {
        userInfo();
      } catch {
        process.env['SHELL'] = 'unknown';
      }
    }
    const { run } = await import('@oclif/core');
    await run(prepareArgv(full, await flagsOf(full[0])), import.meta.url);
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit;
      return;
    }
    const flags = err instanceof Errors.CLIError ? await flagsOf(full[0]) : undefined;
    const suggestion = flags ? suggestFlag((err as Error).message, flags) : undefined;
    const { text, exitCode } = formatError(err, { debug: process.env['TSBUILD_DEBUG'] === '1', ...(suggestion ? { suggestion } : {}) });
    process.stderr.write(text);
    process.exitCode = exitCode;
  }
}

/** oclif shows help for `--help` anywhere before `--`; such a build argv goes to oclif. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help') return true;
  }
  return false;
}

/** `--flag=false` spellings of the chosen command's boolean flags, in the forms oclif parses. */
function prepareArgv(full: readonly string[], flags: FlagTable | undefined): string[] {
  return flags ? [full[0] as string, ...normalizeBooleanFlags(full.slice(1), flags)] : [...full];
}

/** The flag table of command `id`; only a command other than build loads the command table. */
async function flagsOf(id: string | undefined): Promise<FlagTable | undefined> {
  if (id === 'build') return BUILD_FLAGS;
  if (id === undefined || !(COMMAND_IDS as readonly string[]).includes(id)) return undefined;
  const { commands } = await import('./commands.js');
  return (commands as Record<string, { flags?: FlagTable }>)[id]?.flags;
}
