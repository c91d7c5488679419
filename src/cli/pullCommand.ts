import { Args, Command, Flags } from '@oclif/core';
import { hostPlatform, parsePlatform } from '../image/platform.js';
import { copyImage } from '../transport/copyImage.js';
import { RegistrySource } from '../transport/registrySource.js';
import { StoreImageDestination } from '../transport/storeDestination.js';
import { parseSource } from '../transport/transportName.js';
import { TsbuildError } from '../errors.js';
import { loadConfig } from '../config/loadConfig.js';
import { registryClientFor, registryFlags, storeBlobLocations } from './registryFlags.js';
import { openSessionStore } from './session.js';
import { withSignals } from './signals.js';

export class PullCommand extends Command {
  static override summary = 'Copy an image from a registry into the local store';
  static override examples = ['<%= config.bin %> pull alpine', '<%= config.bin %> pull localhost:5000/team/app:1 --platform linux/arm64'];
  static override args = {
    image: Args.string({ description: 'NAME[:TAG|@DIGEST] or docker://NAME…', required: true }),
  };
  static override flags = {
    ...registryFlags,
    platform: Flags.string({ description: 'which image of a multi-platform index (default: this host)' }),
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
    quiet: Flags.boolean({ char: 'q', description: 'print only the manifest digest', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PullCommand);
    const t = parseSource(args.image);
    if (t.transport !== 'docker' && t.transport !== 'local') {
      throw new TsbuildError('USAGE', `pulling ${args.image}: only registry images can be pulled`, { hint: 'use a build context (oci-layout://) for OCI layouts' });
    }
    const name = t.reference.toString();
    const config = await loadConfig(process.env);
    const store = await openSessionStore(flags.root ?? config.root);
    const registry = registryClientFor(flags, process.env, config, storeBlobLocations(store));
    try {
      await withSignals(async (signal) => {
        const platform = flags.platform ? parsePlatform(flags.platform) : hostPlatform();
        const dest = new StoreImageDestination(store.content, store.images, name);
        const { manifestDigest } = await copyImage(new RegistrySource(registry, t.reference), dest, {
          platform,
          signal,
          onProgress: (e) => {
            if (!flags.quiet && e.kind === 'blob' && e.status !== 'copying') process.stderr.write(`${e.status === 'exists' ? 'exists ' : 'fetched'} ${e.descriptor.digest}\n`);
          },
        });
        if (!flags.quiet) process.stderr.write(`pulled ${name}\n`);
        process.stdout.write(`${manifestDigest}\n`);
      });
    } finally {
      await registry.close();
    }
  }
}
