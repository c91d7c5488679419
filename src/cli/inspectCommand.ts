import { Args, Command, Flags } from '@oclif/core';
import { TsbuildError } from '../errors.js';
import { parseReference } from '../image/reference.js';
import type { ImageConfig, ImageManifest } from '../image/types.js';
import { humanSize } from './humanSize.js';
import { openSessionStore } from './session.js';

export class InspectCommand extends Command {
  static override summary = 'Show an image of the local store: manifest, config and layers with sizes';
  static override args = {
    image: Args.string({ description: 'image in the local store', required: true }),
  };
  static override flags = {
    format: Flags.string({ description: 'output format', options: ['text', 'json'], default: 'text' }),
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(InspectCommand);
    const store = await openSessionStore(flags.root);
    const name = parseReference(args.image).toString();
    const descriptor = await store.images.get(name);
    if (!descriptor) throw new TsbuildError('IMAGE_NOT_FOUND', `inspecting ${args.image}: no such image in the local store`, { hint: 'see tsbuild images' });
    const manifest = JSON.parse((await store.content.readBytes(descriptor.digest)).toString('utf8')) as ImageManifest;
    const config = JSON.parse((await store.content.readBytes(manifest.config.digest)).toString('utf8')) as ImageConfig;
    const layers = manifest.layers.map((l, i) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, diffID: config.rootfs.diff_ids[i] }));
    const size = manifest.layers.reduce((n, l) => n + l.size, manifest.config.size);
    if (flags.format === 'json') {
      const out = { name, digest: descriptor.digest, mediaType: descriptor.mediaType, id: manifest.config.digest, size, manifest, config, layers };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    const lines = [
      `Name:          ${name}`,
      `Digest:        ${descriptor.digest}`,
      `Media type:    ${descriptor.mediaType}`,
      `Image ID:      ${manifest.config.digest}`,
      `Platform:      ${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ''}`,
      `Created:       ${config.created ?? ''}`,
      `Size:          ${humanSize(size)} (${size} bytes, compressed)`,
    ];
    const c = config.config ?? {};
    if (c.Entrypoint) lines.push(`Entrypoint:    ${JSON.stringify(c.Entrypoint)}`);
    if (c.Cmd) lines.push(`Cmd:           ${JSON.stringify(c.Cmd)}`);
    if (c.WorkingDir) lines.push(`WorkingDir:    ${c.WorkingDir}`);
    if (c.User) lines.push(`User:          ${c.User}`);
    for (const e of c.Env ?? []) lines.push(`Env:           ${e}`);
    for (const [k, v] of Object.entries(c.Labels ?? {})) lines.push(`Label:         ${k}=${v}`);
    lines.push(`Layers (${layers.length}):`);
    for (const l of layers) lines.push(`  ${l.digest}  ${humanSize(l.size).padStart(8)}  ${l.mediaType}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
