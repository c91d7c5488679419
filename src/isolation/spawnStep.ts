/**
 * Starts a RUN step's process without the namespace helper (the copy runtimes and isolation
 * none): in its own process group, so an abort (SIGTERM, then SIGKILL after a grace period)
 * reaches everything it started; output streamed; exit codes as the helper reports them.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { TsbuildError } from '../errors.js';
import type { RunOutput, RunResult } from './runtime.js';

export interface SpawnStepOptions {
  /** The step's environment ("KEY=value"). */
  env: readonly string[];
  /** Added for the launcher itself (e.g. PROOT_TMP_DIR). */
  launcherEnv?: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
  killGraceMs?: number;
  /** What to install when `cmd` cannot start. */
  hint: string;
}

export function spawnStep(cmd: string, args: readonly string[], output: RunOutput, signal: AbortSignal, opts: SpawnStepOptions): Promise<RunResult> {
  const envObj: Record<string, string> = {};
  for (const e of opts.env) {
    const eq = e.indexOf('=');
    if (eq > 0) envObj[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...envObj, ...opts.launcherEnv },
      detached: true,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const onAbort = (): void => {
      aborted = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 2000);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout?.on('data', (chunk: Buffer) => output.onStdout(chunk));
    child.stderr?.on('data', (chunk: Buffer) => output.onStderr(chunk));
    child.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new TsbuildError('ISOLATION_SETUP', `starting ${cmd} for the RUN step: ${err.message}`, { hint: opts.hint, cause: err }));
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (aborted) return reject(new TsbuildError('ABORTED', 'running the RUN step: aborted', { cause: signal.reason }));
      if (sig !== null) return resolve({ exitCode: 128 + (constants.signals[sig] ?? 0), signal: sig });
      resolve({ exitCode: code ?? 125 });
    });
  });
}
