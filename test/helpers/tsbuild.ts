import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execCommand, type ExecResult } from './exec.js';
import { makeReadableBy, runAs, type TestUser } from './users.js';

/** The repository root, found from this file's location (test/helpers/). */
export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** The CLI's Node entry point (`bin/run.js`, which loads the bundle in dist/). */
export function tsbuildBin(): string {
  return join(repoRoot(), 'bin', 'run.js');
}

export interface RunTsbuildOptions {
  /** Defaults to the repository root as root, the user's home as `user`. */
  cwd?: string;
  /**
   * As root: merged over process.env. As `user`: added to a clean environment (see runAs),
   * so root's TSBUILD_ROOT or XDG_* never leak into a rootless run.
   */
  env?: Record<string, string>;
  /** Run as this unprivileged user (setpriv), the way rootless users run tsbuild. */
  user?: TestUser;
  input?: string;
  signal?: AbortSignal;
  /**
   * `launcher` (the default): bin/tsbuild, the installed command, which starts a build in the
   * namespace from the start-up snapshot. `run.js`: `node bin/run.js`, the try-outside-then-re-exec
   * process model. TSBUILD_TEST_VIA=run.js runs every test through run.js.
   */
  via?: 'launcher' | 'run.js';
}

/** Runs tsbuild (see `via`) and collects its exit code and output; never rejects on exit != 0. */
export async function runTsbuild(args: readonly string[], opts: RunTsbuildOptions = {}): Promise<ExecResult> {
  const launcher = (opts.via ?? process.env['TSBUILD_TEST_VIA'] ?? 'launcher') === 'launcher';
  const [cmd, argv] = launcher ? [join(repoRoot(), 'bin', 'tsbuild'), [...args]] : [process.execPath, [tsbuildBin(), ...args]];
  const io = {
    ...(opts.input === undefined ? {} : { input: opts.input }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  if (opts.user) {
    await makeReadableBy(repoRoot());
    await makeReadableBy(process.execPath);
    return runAs(opts.user, cmd, argv, {
      ...io,
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      ...(opts.env ? { env: opts.env } : {}),
    });
  }
  return execCommand(cmd, argv, {
    ...io,
    cwd: opts.cwd ?? repoRoot(),
    env: { ...process.env, ...opts.env },
  });
}
