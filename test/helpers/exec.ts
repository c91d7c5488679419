import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export interface ExecResult {
  /** Exit code; a process killed by a signal reports 128 + the signal number, as a shell does. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  /** The complete environment of the child (not merged with process.env). */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  signal?: AbortSignal;
}

/**
 * Runs a command to completion and collects its output. Never rejects for a non-zero exit:
 * tests assert on `code`, and a failing tool's stderr is what the assertion message needs.
 * Rejects only when the command cannot be started at all (ENOENT) or the signal aborts.
 */
export function execCommand(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    if (opts.input !== undefined && child.stdin) {
      // A child that exits without reading its stdin makes the write fail with EPIPE; that is
      // the child's business, not a test failure.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** execCommand that rejects with the command line and its stderr when the exit code is not 0. */
export async function execChecked(
  cmd: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const result = await execCommand(cmd, args, opts);
  if (result.code !== 0) {
    throw new Error(`running ${[cmd, ...args].join(' ')}: exit ${result.code}\n${result.stderr}${result.stdout}`);
  }
  return result;
}
