import { Args, Command, Flags } from '@oclif/core';
import { TsbuildError } from '../errors.js';
import { parseReference } from '../image/reference.js';
import { openSessionStore } from './session.js';

export class TagCommand extends Command {
  static override summary = 'Give an image in the local store another name';
  static override args = {
    source: Args.string({ description: 'image in the local store', required: true }),
    target: Args.string({ description: 'new NAME[:TAG]', required: true }),
  };
  static override flags = {
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TagCommand);
    const store = await openSessionStore(flags.root);
    const source = parseReference(args.source).toString();
    const target = parseReference(args.target);
    if (target.digest !== undefined) throw new TsbuildError('USAGE', `tagging ${args.target}: a tag cannot contain a digest`);
    const descriptor = await store.images.get(source);
    if (!descriptor) throw new TsbuildError('IMAGE_NOT_FOUND', `tagging ${args.source}: no such image in the local store`, { hint: 'see tsbuild images' });
    await store.images.tag(target.toString(), descriptor);
  }
}
