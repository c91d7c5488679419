/** `tsbuild cache du` and `tsbuild cache prune`: the build cache's size and its garbage collector. */
import { Args, Command, Flags } from '@oclif/core';
import { cacheUsage, parseDuration, parseSize, pruneCache } from '../cache/cacheGc.js';
import { TsbuildError } from '../errors.js';
import { humanSize } from './humanSize.js';
import { openSessionStore } from './session.js';

export class CacheCommand extends Command {
  static override summary = 'Show (du) or shrink (prune) the build cache';
  static override description =
    'prune removes cache entries (all of them, or the oldest until --keep-storage is met, or those older than --filter until=DURATION) and the layers only they used; what a tagged image uses is never removed, and prune waits for running builds on the store.';
  static override examples = ['<%= config.bin %> cache du', '<%= config.bin %> cache prune --keep-storage 5GB', '<%= config.bin %> cache prune --filter until=24h'];
  static override args = {
    action: Args.string({ description: 'du or prune', options: ['du', 'prune'], required: true }),
  };
  static override flags = {
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
    'keep-storage': Flags.string({ description: 'prune: keep this much cache (e.g. 5GB), removing the oldest entries first' }),
    filter: Flags.string({ description: 'prune: until=DURATION (e.g. 24h): only entries older than that', multiple: true, multipleNonGreedy: true, default: [] }),
    json: Flags.boolean({ description: 'print JSON', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(CacheCommand);
    const store = await openSessionStore(flags.root);
    if (args.action === 'du') {
      const usage = await cacheUsage(store);
      if (flags.json) process.stdout.write(`${JSON.stringify(usage)}\n`);
      else {
        process.stdout.write(`entries      ${usage.entries}\nlayers       ${usage.layers}\nsize         ${humanSize(usage.bytes)}\nreclaimable  ${humanSize(usage.reclaimable)}\n`);
      }
      return;
    }
    let olderThanMs: number | undefined;
    for (const f of flags.filter) {
      const [key, value = ''] = f.split('=', 2);
      if (key !== 'until') throw new TsbuildError('USAGE', `unknown --filter ${JSON.stringify(f)}: only until=DURATION is supported`);
      olderThanMs = parseDuration(value);
    }
    const result = await pruneCache(store, {
      ...(flags['keep-storage'] !== undefined ? { keepStorage: parseSize(flags['keep-storage']) } : {}),
      ...(olderThanMs !== undefined ? { olderThanMs } : {}),
    });
    if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`removed ${result.entries} cache entries and ${result.blobs} layers: ${humanSize(result.bytes)} reclaimed\n`);
  }
}
