import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { TsbuildError } from '../errors.js';
import { locateHelper } from './helperPath.js';
import { buildIdMap, type IdMapEntry } from './idmap.js';
import { probeIsolation, type IsolationProbe } from './probe.js';
import { mountOverlayHere, unmountHere, type OverlaySpec } from '../util/fsx.js';

const NAMESPACE_ENV = 'TSBUILD_IN_NAMESPACE';
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** True in the process `reexecInNamespace` started (the helper sets the marker). */
export function inNamespace(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[NAMESPACE_ENV] === '1';
}

/**
 * Refuses `what` in a build first tried outside tsbuild's namespace (src/README.md, "Process
 * model"): the caller drops the try and runs the build again inside the namespace.
 */
export function namespaceNeeded(what: string): never {
  throw new TsbuildError('NAMESPACE_NEEDED', `${what} needs tsbuild's namespace`, {
    hint: 'run the build through `tsbuild build`, which enters it when a step must run',
  });
}

/** True when `err` (or what it wraps, e.g. the step error around it) came from namespaceNeeded. */
export function needsNamespace(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof TsbuildError && e.code === 'NAMESPACE_NEEDED') return true;
  }
  return false;
}

export interface ReexecOptions {
  helperPath?: string;
  /** A probe the caller already made; probed here otherwise. */
  probe?: IsolationProbe;
}

function mapArgs(flag: string, map: IdMapEntry[]): string[] {
  return map.flatMap((e) => [flag, `${e.container}:${e.host}:${e.size}`]);
}

/**
 * The helper's `enter` arguments for this user: root needs only a mount namespace; anyone else
 * gets a user namespace mapping their own id to 0 and their subordinate ranges to 1.. (the
 * helper falls back to a one-id map, with a warning, when there are none).
 */
export function enterArgs(probe: IsolationProbe, argv: string[]): string[] {
  const args = ['enter'];
  if (probe.uid !== 0) {
    if (probe.subuidRanges.length > 0) args.push(...mapArgs('--uid-map', buildIdMap(probe.uid, probe.subuidRanges)));
    if (probe.subgidRanges.length > 0) args.push(...mapArgs('--gid-map', buildIdMap(probe.gid, probe.subgidRanges)));
  }
  return [...args, '--', ...argv];
}

/**
 * Runs `argv` again inside tsbuild's namespace (src/README.md, "Process model") with inherited
 * stdio and resolves with its exit code (128 + signal number when it was killed). SIGINT, SIGTERM
 * and SIGHUP sent to this process are passed on; the helper drops the copies a terminal already
 * delivered to the whole foreground group.
 */
export async function reexecInNamespace(
  argv: string[],
  env: NodeJS.ProcessEnv,
  opts: ReexecOptions = {},
): Promise<number> {
  if (argv.length === 0) throw new TsbuildError('INTERNAL', 'entering the build namespace: empty command');
  const probe = opts.probe ?? (await probeIsolation({ env }));
  if (probe.uid !== 0 && !probe.userns) {
    throw new TsbuildError('ISOLATION_UNAVAILABLE', 'entering the build namespace: user namespaces are disabled on this machine', {
      hint: 'enable them (sysctl user.max_user_namespaces=15000, or kernel.unprivileged_userns_clone=1 on older Debian), or use --isolation=chroot',
    });
  }
  const helper = await locateHelper(opts.helperPath, env);
  return new Promise<number>((resolve, reject) => {
    const child = spawn(helper, enterArgs(probe, argv), { stdio: 'inherit', env });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    for (const sig of FORWARDED_SIGNALS) process.on(sig, forward);
    const cleanup = (): void => {
      for (const sig of FORWARDED_SIGNALS) process.off(sig, forward);
    };
    child.on('error', (err) => {
      cleanup();
      reject(new TsbuildError('HELPER_MISSING', `starting the namespace helper ${helper}: ${err.message}`, {
        hint: 'run npm ci (it builds native/ with cc)',
        cause: err,
      }));
    });
    child.on('exit', (code, sig) => {
      cleanup();
      resolve(code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0));
    });
  });
}

export interface MountOverlayOptions {
  /** Top first. With one lowerdir and no upperdir the view is a read-only bind mount. */
  lowerdirs: string[];
  upperdir?: string;
  workdir?: string;
  userxattr: boolean;
  readonly?: boolean;
}

/**
 * Mounts an overlay (or a read-only bind for a single lower) of `lowerdirs` at `target`, in this
 * process's mount namespace: tsbuild's own once the launcher or `reexecInNamespace` entered it.
 * Done by fsx.node with the helper's code (native/overlay.h), not by a helper process: a spawn
 * from the build's Node process costs more than the mount.
 */
export async function mountOverlay(opts: MountOverlayOptions, target: string, signal?: AbortSignal): Promise<void> {
  if (opts.lowerdirs.length === 0) {
    throw new TsbuildError('INTERNAL', `mounting overlay on ${target}: no lowerdir (pass an empty directory instead)`);
  }
  if ((opts.upperdir === undefined) !== (opts.workdir === undefined)) {
    throw new TsbuildError('INTERNAL', `mounting overlay on ${target}: upperdir and workdir go together`);
  }
  signal?.throwIfAborted();
  const spec: OverlaySpec = {
    target,
    lowers: opts.lowerdirs,
    userxattr: opts.userxattr,
    readonly: opts.readonly === true,
    ...(opts.upperdir !== undefined && opts.workdir !== undefined ? { upper: opts.upperdir, work: opts.workdir } : {}),
  };
  mountCall(() => mountOverlayHere(spec), `mounting overlay on ${target}`);
}

/** Detaches the mount at `target` (lazily, so a busy file in it can't fail the build). */
export async function unmount(target: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
  opts.signal?.throwIfAborted();
  mountCall(() => unmountHere(target), `unmounting ${target}`);
}

function mountCall(call: () => void, doing: string): void {
  try {
    call();
  } catch (err) {
    if (err instanceof TsbuildError) throw err;
    throw new TsbuildError('ISOLATION_SETUP', `${doing}: ${(err as Error).message}`, {
      cause: err,
      hint: inNamespace()
        ? 'the overlay dirs must exist on one filesystem that supports overlayfs (userxattr needs Linux >= 5.11)'
        : "mounts need tsbuild's namespace: run through `tsbuild build`, which enters it first",
    });
  }
}
