/**
 * Which progress display a build gets: `-q` or `--progress` first, then TSBUILD_PROGRESS, then the
 * config file, then `auto` (a live view on a terminal, plain lines otherwise, as BuildKit does).
 */
import type { ProgressSink } from '../build/progress.js';
import { PROGRESS_MODES, type ProgressModeName } from '../config/loadConfig.js';
import { TsbuildError } from '../errors.js';
import { JsonProgress } from './jsonProgress.js';
import { PlainProgress } from './plainProgress.js';
import { TtyProgress } from './ttyProgress.js';

export type ProgressMode = Exclude<ProgressModeName, 'auto'>;

export interface ProgressDisplay extends ProgressSink {
  /** Stops redrawing and leaves the final state on screen; safe to call twice. */
  close(): void;
}

export function resolveProgressMode(opts: {
  flag: string | undefined;
  quiet: boolean;
  env: NodeJS.ProcessEnv;
  config: ProgressModeName | undefined;
  isTTY: boolean;
}): ProgressMode {
  if (opts.quiet) return 'quiet';
  const fromEnv = opts.env['TSBUILD_PROGRESS'] || undefined;
  const chosen = opts.flag ?? fromEnv ?? opts.config ?? 'auto';
  if (!(PROGRESS_MODES as readonly string[]).includes(chosen)) {
    const where = opts.flag !== undefined ? '--progress' : 'TSBUILD_PROGRESS';
    throw new TsbuildError('USAGE', `${where}=${chosen}: expected one of ${PROGRESS_MODES.join(', ')}`);
  }
  if (chosen === 'auto') return opts.isTTY ? 'tty' : 'plain';
  return chosen as ProgressMode;
}

/** https://no-color.org: any non-empty NO_COLOR turns colour off; so does a dumb terminal. */
export function colorEnabled(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env['NO_COLOR']) return false;
  if (env['TERM'] === 'dumb') return false;
  return isTTY;
}

export function createProgressDisplay(mode: ProgressMode, out: NodeJS.WriteStream, env: NodeJS.ProcessEnv): ProgressDisplay {
  switch (mode) {
    case 'quiet':
      return { emit() {}, close() {} };
    case 'plain':
      return Object.assign(new PlainProgress(out), { close() {} });
    case 'json':
      return Object.assign(new JsonProgress(out), { close() {} });
    case 'tty':
      return new TtyProgress(out, { color: colorEnabled(env, true), columns: () => out.columns || 100 });
  }
}
