import { Args, Command, Flags } from '@oclif/core';
import { TsbuildError } from '../errors.js';
import { parseReference } from '../image/reference.js';
import { openSessionStore } from './session.js';

export class RmiCommand extends Command {
  static override summary = 'Remove image names from the local store';
  static override description = 'Removes the tags; blobs stay in the content store (shared with other images and the build cache).';
  static override strict = false;
  static override args = {
    image: Args.string({ description: 'image name (one or more)', required: true }),
  };
  static override flags = {
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(RmiCommand);
    const store = await openSessionStore(flags.root);
    const missing: string[] = [];
    for (const arg of argv as string[]) {
      const name = parseReference(arg).toString();
      if (await store.images.untag(name)) process.stdout.write(`Untagged: ${name}\n`);
      else missing.push(arg);
    }
    if (missing.length > 0) {
      throw new TsbuildError('IMAGE_NOT_FOUND', `removing ${missing.join(', ')}: no such image in the local store`, { hint: 'see tsbuild images' });
    }
  }
}
