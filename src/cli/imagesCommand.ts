import { Command, Flags } from '@oclif/core';
import { parseReference } from '../image/reference.js';
import type { ImageConfig, ImageManifest } from '../image/types.js';
import { humanSize } from './humanSize.js';
import { openSessionStore } from './session.js';

export class ImagesCommand extends Command {
  static override summary = 'List the images in the local store';
  static override flags = {
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
    quiet: Flags.boolean({ char: 'q', description: 'print only image IDs', default: false }),
    json: Flags.boolean({ description: 'print JSON', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ImagesCommand);
    const store = await openSessionStore(flags.root);
    const rows = [];
    for (const { name, descriptor } of await store.images.list()) {
      const manifest = JSON.parse((await store.content.readBytes(descriptor.digest)).toString('utf8')) as ImageManifest;
      const config = JSON.parse((await store.content.readBytes(manifest.config.digest)).toString('utf8')) as ImageConfig;
      const ref = parseReference(name);
      rows.push({
        name,
        repository: ref.familiar.replace(/[:@].*$/, ''),
        tag: ref.tag ?? '<none>',
        id: manifest.config.digest,
        digest: descriptor.digest,
        created: config.created ?? '',
        size: manifest.layers.reduce((n, l) => n + l.size, manifest.config.size),
      });
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    if (flags.quiet) {
      for (const r of rows) process.stdout.write(`${r.id.slice(7, 19)}\n`);
      return;
    }
    const table = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], ...rows.map((r) => [r.repository, r.tag, r.id.slice(7, 19), r.created, humanSize(r.size)])];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd()}\n`);
  }
}

// Other commands import it from here; it lives in humanSize.ts with the other formatters.
export { humanSize } from './humanSize.js';
