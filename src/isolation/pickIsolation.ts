/** The effectful edge of chooseIsolation: probe once, choose, and carry the choice across the namespace re-exec. */
import { readFile } from 'node:fs/promises';
import { storeXattrFlavor, type StoreKind, type XattrFlavor } from '../store/storeRoot.js';
import { AUTO_ROOTLESS_REASON, autoRootless, chooseIsolation, parseIsolationRequest, type IsolationChoice, type IsolationRequest } from './chooseIsolation.js';
import { inNamespace } from './enterNamespace.js';
import { enteredByLauncher, leaveNamespace, mustLeaveNamespace } from './launcher.js';
import { CAP_SYS_ADMIN, hasCap, isIdentityMap, probeCapabilities, probeRootless } from './probe.js';

/** Set by the parent for the re-executed build: the reason line of the rootless choice. */
const REASON_ENV = 'TSBUILD_ISOLATION_REASON';

/** `--isolation`, else TSBUILD_ISOLATION (oclif reads it into the flag), else the config file, else auto. */
export function isolationRequest(flag: string | undefined, config: string | undefined): IsolationRequest {
  if (flag !== undefined) return parseIsolationRequest(flag, '--isolation');
  if (config !== undefined) return parseIsolationRequest(config === 'root' ? 'rootless' : config, 'config key isolation');
  return 'auto';
}

/**
 * Which isolation this build gets. Inside the namespace re-exec the answer is rootless (that is
 * why the process is there), with the reason the parent found; elsewhere the environment is probed.
 * Inside the namespace the launcher entered (src/isolation/launcher.ts), a request for another
 * isolation (from the config file: the helper saw the flags) sends the build back outside.
 */
export async function pickIsolation(request: IsolationRequest, env: NodeJS.ProcessEnv = process.env): Promise<IsolationChoice> {
  if (mustLeaveNamespace(request, env)) leaveNamespace(request);
  if (inNamespace(env)) return { mode: 'rootless', reason: env[REASON_ENV] ?? launcherReason(request, env), missing: [] };
  // Asked for by name: no probe, it fails as it always did where it cannot work.
  if (request === 'rootless') return { mode: 'rootless', reason: 'asked for with --isolation rootless', missing: [] };
  // Rootless first, with only its own probes (a spawn or two); the full probe only when it is out.
  if (request === 'auto') {
    const rootless = autoRootless(await probeRootless({ env }));
    if (rootless) return rootless;
  }
  const choice = chooseIsolation(request, await probeCapabilities({ env }));
  // Before anything else happens: `none` replaces `/`, so only a throw-away container may use it.
  if (choice.mode === 'none') await (await import('./noneRuntime.js')).assertNoneAllowed(env);
  return choice;
}

/** Why a build the launcher entered runs rootless: its helper found what auto's probe looks for. */
function launcherReason(request: IsolationRequest, env: NodeJS.ProcessEnv): string {
  if (!enteredByLauncher(env)) return 'inside the build namespace';
  return request === 'rootless' ? 'asked for with --isolation rootless' : AUTO_ROOTLESS_REASON;
}

/** The environment for the rootless re-exec, so the build inside can say why it runs there. */
export function reexecEnv(choice: IsolationChoice, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, [REASON_ENV]: choice.reason };
}

/** What `none` leaves unisolated: the warning every such build prints. */
export const NONE_WARNING =
  'warning: --isolation none: RUN steps are not isolated: they run as plain processes of this container (its pid, mount, network and ipc namespaces, its capabilities, no seccomp filter, no resource limits) on / itself, which tsbuild replaces with each step\'s rootfs';

/** The one info line every build prints about its isolation. */
export function isolationLine(choice: IsolationChoice): string {
  const missing = choice.missing.length > 0 ? `; not available: ${choice.missing.join('; ')}` : '';
  return `isolation: ${choice.mode} (${choice.reason})${missing}`;
}

/**
 * The xattr flavor for a copy-mode build's store: the store's own when it exists; for a new one,
 * `trusted` where this process could also build with root overlay (real root with CAP_SYS_ADMIN,
 * so the store stays usable by the default mode), else `user`, which root can set without it.
 */
async function copyStoreFlavor(root: string): Promise<XattrFlavor> {
  const existing = await storeXattrFlavor(root);
  if (existing !== undefined) return existing;
  const [status, uidMap] = await Promise.all([readFile('/proc/self/status', 'utf8').catch(() => ''), readFile('/proc/self/uid_map', 'utf8').catch(() => '')]);
  return process.getuid?.() === 0 && hasCap(status, CAP_SYS_ADMIN) && isIdentityMap(uidMap) ? 'trusted' : 'user';
}

/**
 * The store a copy-mode build opens: root writes real owners and device nodes; any other user
 * (no user namespace here, so it cannot chown or mknod) records them in xattrs (src/layer/README.md).
 */
export async function copyStoreOptions(root: string): Promise<{ xattrFlavor: XattrFlavor; kind: StoreKind }> {
  if (process.getuid?.() !== 0) return { xattrFlavor: 'user', kind: 'xattr' };
  return { xattrFlavor: await copyStoreFlavor(root), kind: 'native' };
}
