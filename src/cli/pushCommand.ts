import { Args, Command, Flags } from '@oclif/core';
import { TsbuildError } from '../errors.js';
import { parseReference } from '../image/reference.js';
import { countingSource } from '../build/transferProgress.js';
import { copyImage } from '../transport/copyImage.js';
import { openDestination } from '../transport/openDestination.js';
import { StoreImageSource } from '../transport/storeSource.js';
import { createProgressDisplay, resolveProgressMode } from './progressMode.js';
import { makeRegistryClient } from './registryFlags.js';
import { openSessionStore } from './session.js';
import { withSignals } from './signals.js';

export class PushCommand extends Command {
  static override summary = 'Copy an image from the local store to a registry or an OCI layout';
  static override examples = [
    '<%= config.bin %> push app:1 oci:/tmp/app:1',
    '<%= config.bin %> push app:1 docker://localhost:5000/team/app:1',
    '<%= config.bin %> push localhost:5000/team/app:1',
  ];
  static override args = {
    image: Args.string({ description: 'image in the local store', required: true }),
    destination: Args.string({ description: 'docker://REF, oci:DIR[:TAG] or oci-archive:FILE[:TAG] (default: docker://IMAGE)' }),
  };
  static override flags = {
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
    'insecure-registry': Flags.string({ description: 'HOST[:PORT] to reach over http or unverified TLS (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
    quiet: Flags.boolean({ char: 'q', description: 'print nothing but errors', default: false }),
    progress: Flags.string({ description: 'transfer progress (default: $TSBUILD_PROGRESS or auto)', options: ['auto', 'tty', 'plain', 'json', 'quiet'] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PushCommand);
    const store = await openSessionStore(flags.root);
    const name = parseReference(args.image).toString();
    const top = await store.images.get(name);
    if (!top) {
      throw new TsbuildError('IMAGE_NOT_FOUND', `pushing ${args.image}: no such image in the local store`, { hint: 'see tsbuild images' });
    }
    const registry = makeRegistryClient(flags['insecure-registry'], process.env, undefined, store);
    try {
      // Bars with bytes and rate on a terminal, one line per blob in logs.
      const mode = resolveProgressMode({ flag: flags.progress, quiet: flags.quiet, env: process.env, config: undefined, isTTY: process.stderr.isTTY === true });
      const display = createProgressDisplay(mode, process.stderr, process.env);
      await withSignals(async (signal) => {
        const dest = openDestination(args.destination ?? `docker://${name}`, { registry, sourceName: name });
        const { manifestDigest } = await copyImage(countingSource(new StoreImageSource(store.content, name, top), display, 'push'), dest, { signal }).finally(() => display.close());
        if (mode === 'plain' || mode === 'tty') process.stderr.write(`pushed ${name} to ${dest.reference}\n`);
        process.stdout.write(`${manifestDigest}\n`);
      });
    } finally {
      await registry.close();
    }
  }
}
