import { Command, Flags } from '@oclif/core';
import { inNamespace, reexecInNamespace } from '../isolation/enterNamespace.js';
import { defaultStoreRoot } from '../store/storeRoot.js';
import { fsckStore, type FsckReport } from '../store/fsck.js';
import { withSignals } from './signals.js';

export class FsckCommand extends Command {
  static override summary = 'Check the local store: every blob, tag, layer dir, temp file and lock';
  static override description =
    'Exit 0: the store is consistent (leftovers of killed processes may be listed; --repair removes them). Exit 1: damage (a corrupt or missing blob a tag needs, a leaked mount), listed.';
  static override examples = ['<%= config.bin %> fsck', '<%= config.bin %> fsck --repair'];
  static override flags = {
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
    repair: Flags.boolean({ description: 'remove corrupt blobs and what dead processes left behind (temp files, stale locks, partial layer dirs)', default: false }),
    json: Flags.boolean({ description: 'print the report as JSON', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FsckCommand);
    if (flags.repair && process.getuid?.() !== 0 && !inNamespace()) {
      // A rootless build's leftovers hold files owned by subordinate ids: only the build's own
      // user namespace can remove them.
      process.exitCode = await reexecInNamespace([process.execPath, ...process.argv.slice(1)], process.env);
      return;
    }
    const root = flags.root ?? defaultStoreRoot(process.env);
    const report = await withSignals((signal) => fsckStore(root, { repair: flags.repair, signal }));
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(formatReport(report, flags.repair));
    process.exitCode = report.consistent ? 0 : 1;
  }
}

export function formatReport(r: FsckReport, repair: boolean): string {
  const lines = [`checked ${r.root}: ${r.blobs} blobs, ${r.tags} tags, ${r.cacheEntries} cache entries, ${r.layers} layer dirs (${r.unreferencedBlobs} blobs not reached by a tag)`];
  for (const p of r.problems) {
    const state = p.repaired ? 'removed' : p.severity === 'damage' ? 'DAMAGE' : 'leftover';
    lines.push(`  ${state}: ${p.path}: ${p.detail}`);
  }
  const leftovers = r.problems.filter((p) => p.severity === 'leftover' && !p.repaired).length;
  if (r.consistent) {
    lines.push(leftovers > 0 && !repair ? `consistent; ${leftovers} leftovers of killed processes (tsbuild fsck --repair removes them)` : 'consistent');
  } else {
    lines.push('store damaged: rebuild or re-pull the images named above (tsbuild fsck --repair removes corrupt blobs, never tags)');
  }
  return `${lines.join('\n')}\n`;
}
