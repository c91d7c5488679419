import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { locateHelper } from './helperPath.js';
import { decodeRecords, encodeRunSpec, type HelperRecord } from './protocol.js';

export interface OverlaySpec {
  /** Top first, as overlayfs wants them. */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
  /** Needed when the mount happens inside a user namespace (probe.overlayUserxattr). */
  userxattr: boolean;
}

export interface RunSpec {
  rootfs: OverlaySpec;
  /** An empty directory the rootfs is mounted on (inside the step's own mount namespace). */
  mountpoint: string;
  /** An empty directory that stands in as the only lower layer when `rootfs.lowerdirs` is empty. */
  emptyLowerdir?: string;
  argv: string[];
  /** Exactly the command's environment ("KEY=value"); nothing is added. */
  env: string[];
  /** Created (as root, like Docker's WORKDIR) when missing. */
  cwd: string;
  /** "" (root), "uid[:gid]" or "name[:group]", resolved against the rootfs' /etc/passwd and /etc/group. */
  user: string;
  hostname: string;
  network: 'host' | 'none';
  /** Host file shown read-only as /etc/hosts (default: the host's); skipped when it or the rootfs file is missing. */
  etcHosts?: string;
  /** Host file shown read-only as /etc/resolv.conf (default: the host's); skipped likewise. */
  resolvConf?: string;
  /** RUN --mount entries, attached in this order after pivot_root (sort parents first). */
  mounts?: SandboxMount[];
  /** An empty host dir the helper puts a private tmpfs on for `file` mounts (secrets). */
  scratchDir?: string;
  /** Docker's default seccomp profile; false only for `--security-opt seccomp=unconfined`. */
  seccomp?: boolean;
  /** PR_SET_NO_NEW_PRIVS (Docker: only with `--security-opt no-new-privileges`). */
  noNewPrivileges?: boolean;
  /** Capability numbers added to Docker's default set (`--cap-add`). */
  capAdd?: number[];
  /** cgroup.procs files the helper joins before it starts the step (resource limits). */
  cgroupProcs?: string[];
}

/**
 * A mount inside the sandbox. `bind`: a host path (a dir or a file, e.g. an ssh-agent socket);
 * `tmpfs`: a fresh tmpfs with mount `options`; `file`: `content` as a file on a private tmpfs
 * (never on disk), with `mode`, `uid`, `gid`.
 */
export type SandboxMount =
  | { type: 'bind'; source: string; target: string; readonly: boolean }
  | { type: 'tmpfs'; target: string; options: string }
  | { type: 'file'; target: string; content: Buffer; mode: number; uid: number; gid: number };

export interface RunOutput {
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
}

/** `exitCode` follows podman: the command's own, 126 not executable, 127 not found. */
export interface RunResult {
  exitCode: number;
  /** Set when the command was killed by a signal (exitCode is then 128 + its number). */
  signal?: NodeJS.Signals;
}

export interface Runtime {
  run(spec: RunSpec, output: RunOutput, signal: AbortSignal): Promise<RunResult>;
}

export interface NamespaceRuntimeOptions {
  helperPath?: string;
  /** How long an aborted step gets after SIGTERM before SIGKILL. */
  killGraceMs?: number;
}

const DEFAULT_KILL_GRACE_MS = 2000;
const EXIT_SETUP = 125;

const STEP_HINTS: Record<string, string> = {
  unshare:
    'RUN needs mount, pid, uts and ipc namespaces; tsbuild normally gets them by re-executing itself ' +
    'through `tsbuild-helper enter` (use --isolation=chroot where namespaces are not allowed)',
  'mount rootfs':
    'the lower, upper and work dirs must exist on one filesystem that supports overlayfs ' +
    '(inside a user namespace this needs Linux >= 5.11 and the userxattr option)',
  'resolve user': "check the USER instruction against the image's /etc/passwd and /etc/group",
  setgid:
    'the id is not mapped in the user namespace; give your user subordinate ids with ' +
    'usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER',
  setuid:
    'the id is not mapped in the user namespace; give your user subordinate ids with ' +
    'usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER',
};
const DEFAULT_HINT = 'this failed before the command started; run with --debug to see the helper\'s report';

function signalName(signo: number): NodeJS.Signals | undefined {
  for (const [name, n] of Object.entries(constants.signals)) {
    if (n === signo) return name as NodeJS.Signals;
  }
  return undefined;
}

function setupError(record: Extract<HelperRecord, { kind: 'error' }>): TsbuildError {
  const cause = Object.assign(new Error(`${record.step}: ${record.message}`), {
    step: record.step,
    errno: record.errno,
  });
  return new TsbuildError('ISOLATION_SETUP', `setting up the RUN sandbox: ${record.step}: ${record.message}`, {
    hint: STEP_HINTS[record.step] ?? DEFAULT_HINT,
    cause,
  });
}

/**
 * Runs RUN steps through `tsbuild-helper run`: a fresh mount/pid/uts/ipc(/net) namespace on an
 * overlay rootfs, no new user namespace (the process is already inside tsbuild's own, see
 * src/README.md). The command's stdin is /dev/null.
 */
export class NamespaceRuntime implements Runtime {
  readonly #helperPath: string | undefined;
  readonly #killGraceMs: number;
  #located: Promise<string> | undefined;

  constructor(opts: NamespaceRuntimeOptions = {}) {
    this.#helperPath = opts.helperPath;
    this.#killGraceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  }

  async run(spec: RunSpec, output: RunOutput, signal: AbortSignal): Promise<RunResult> {
    const payload = encodeRunSpec(spec);
    if (signal.aborted) throw this.#aborted(signal);
    this.#located ??= locateHelper(this.#helperPath);
    const helper = await this.#located.catch((err: unknown) => {
      this.#located = undefined; // let a later call retry after `npm ci`
      throw err;
    });
    if (signal.aborted) throw this.#aborted(signal);
    return this.#spawn(helper, payload, output, signal);
  }

  #aborted(signal: AbortSignal): TsbuildError {
    return new TsbuildError('ABORTED', 'running the RUN step: aborted', { cause: signal.reason });
  }

  #spawn(helper: string, payload: Buffer, output: RunOutput, signal: AbortSignal): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(helper, ['run'], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
        env: {},
      });
      const records: Buffer[] = [];
      let settled = false;
      let aborted = false;
      let killTimer: NodeJS.Timeout | undefined;

      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        fn();
      };
      const onAbort = (): void => {
        aborted = true;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), this.#killGraceMs);
      };
      signal.addEventListener('abort', onAbort, { once: true });

      child.stdout?.on('data', (chunk: Buffer) => output.onStdout(chunk));
      child.stderr?.on('data', (chunk: Buffer) => output.onStderr(chunk));
      const specPipe = child.stdio[3] as Writable | null;
      const recordPipe = child.stdio[4] as Readable | null;
      // The helper may exit before reading the spec (e.g. it is killed); that is reported by
      // its exit, not by a write error here.
      specPipe?.on('error', () => {});
      specPipe?.end(payload);
      recordPipe?.on('data', (chunk: Buffer) => records.push(chunk));
      recordPipe?.on('error', () => {});

      child.on('error', (err: NodeJS.ErrnoException) => {
        finish(() =>
          reject(
            err.code === 'ENOENT' || err.code === 'EACCES'
              ? new TsbuildError('HELPER_MISSING', `starting the namespace helper ${helper}: ${err.message}`, {
                  hint: 'run npm ci (it builds native/ with cc)',
                  cause: err,
                })
              : new TsbuildError('ISOLATION_SETUP', `starting the namespace helper ${helper}: ${err.message}`, {
                  cause: err,
                }),
          ),
        );
      });
      child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
        finish(() => {
          const decoded = decodeRecords(Buffer.concat(records));
          const error = decoded.find((r): r is Extract<HelperRecord, { kind: 'error' }> => r.kind === 'error');
          if (aborted) return reject(this.#aborted(signal));
          if (error && (code === EXIT_SETUP || code === null)) return reject(setupError(error));
          const killed = decoded.find((r): r is Extract<HelperRecord, { kind: 'signal' }> => r.kind === 'signal');
          if (killed) {
            const name = signalName(killed.signo);
            return resolve({ exitCode: code ?? 128 + killed.signo, ...(name ? { signal: name } : {}) });
          }
          if (sig !== null) {
            // The helper itself was killed (OOM killer, kill -9): the step died with it.
            return resolve({ exitCode: 128 + (constants.signals[sig] ?? 0), signal: sig });
          }
          resolve({ exitCode: code ?? EXIT_SETUP });
        });
      });
    });
  }
}
