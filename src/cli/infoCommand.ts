import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Flags } from '@oclif/core';
import { configPath, loadConfig } from '../config/loadConfig.js';
import { locateHelper, defaultHelperPath } from '../isolation/helperPath.js';
import { chooseIsolation } from '../isolation/chooseIsolation.js';
import { judgeContainer, readContainerFacts } from '../isolation/containerCheck.js';
import { isolationLine } from '../isolation/pickIsolation.js';
import { probeCapabilities } from '../isolation/probe.js';
import { defaultStoreRoot } from '../store/storeRoot.js';
import { humanSize } from './humanSize.js';

export class InfoCommand extends Command {
  static override summary = 'Show the version, store, isolation and config file in use';
  static override flags = {
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT, the config file, or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
    json: Flags.boolean({ description: 'print JSON', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(InfoCommand);
    const config = await loadConfig(process.env);
    const root = flags.root ?? config.root ?? defaultStoreRoot(process.env);
    const [probe, helper, storeSize] = await Promise.all([
      probeCapabilities(),
      locateHelper().then(
        (path) => ({ path, ok: true }),
        () => ({ path: defaultHelperPath(), ok: false }),
      ),
      treeSize(root),
    ]);
    const isolation =
      probe.uid === 0 && !probe.inUserNamespace
        ? 'root (full namespaces)'
        : !probe.userns
          ? 'unavailable: user namespaces are disabled'
          : probe.subuid && probe.newuidmap
            ? `rootless, subordinate ids ${probe.subuid.start}-${probe.subuid.start + probe.subuid.count - 1}`
            : 'rootless, own uid only (no /etc/subuid range or newuidmap)';
    let auto: string;
    try {
      const choice = chooseIsolation('auto', probe);
      // What the mode cannot give here too, as the build's isolation: line says it.
      auto = isolationLine(choice).slice('isolation: '.length);
    } catch (err) {
      auto = `none works: ${(err as Error).message}`;
    }
    // `none` is never picked by auto; say whether asking for it would pass the container check.
    const verdict = judgeContainer(await readContainerFacts(process.env));
    const none = verdict.inContainer
      ? `allowed when asked for (a throw-away container: ${verdict.signs.join(', ')})`
      : `refused (not a throw-away container: ${verdict.against.join('; ')})`;
    const yes = (b: boolean): string => (b ? 'yes' : 'no');
    const allows = `user namespaces ${yes(probe.unshareUser)}, overlay in a user namespace ${yes(probe.overlayInUserns)}, newuidmap ${yes(probe.newuidmap)}, mount ${yes(probe.mount)}, chroot ${yes(probe.chroot)}, mknod ${yes(probe.mknod)}, ptrace/proot ${yes(probe.proot)}, seccomp user notification ${yes(probe.seccompUserNotif)}`;
    const info = {
      version: this.config.version,
      node: process.version,
      store: { root, size: storeSize },
      isolation: { summary: isolation, auto, none: { allowed: verdict.inContainer, signs: verdict.signs, against: verdict.against }, ...probe },
      helper,
      config: { ...config, path: config.path ?? null, searched: configPath(process.env) },
    };
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      return;
    }
    const lines = [
      `version:    tsbuild ${info.version} (node ${info.node})`,
      `store:      ${root} (${storeSize === undefined ? 'not created yet' : humanSize(storeSize)})`,
      `isolation:  ${isolation}`,
      `allows:     ${allows}`,
      `auto picks: ${auto}`,
      `none:       ${none}`,
      `helper:     ${helper.path}${helper.ok ? '' : ' (missing: run npm ci)'}`,
      `config:     ${config.path ?? `none (${configPath(process.env)} does not exist)`}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

/** Bytes under `dir` (apparent sizes), or undefined when it does not exist. */
async function treeSize(dir: string): Promise<number | undefined> {
  try {
    await lstat(dir);
  } catch {
    return undefined;
  }
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else total += (await lstat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}
