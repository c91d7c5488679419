import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { TsbuildError } from '../errors.js';
import { parseReference } from '../image/reference.js';
import type { Descriptor, ImageManifest } from '../image/types.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ImageOutput, OutputSpec } from './outputTypes.js';
import { convertImage } from './convertImage.js';
import { copyImage } from './copyImage.js';
import { DockerArchiveDestination } from './dockerArchiveDestination.js';
import { flattenLayers } from './flattenLayers.js';
import { OciLayoutDestination } from './ociLayoutDestination.js';
import type { RegistryClient } from './registryClient.js';
import { RegistryDestination } from './registryDestination.js';
import { StoreImageSource } from './storeSource.js';
import type { ImageSource } from './types.js';

export interface ExportContext {
  content: ContentStore;
  /** The built image's manifest in the store. */
  manifest: Descriptor;
  /** The build's -t names (full form); image outputs name their result with them. */
  tags: readonly string[];
  registry: RegistryClient;
  /** --format: the default media types of image outputs. */
  format?: 'oci' | 'docker';
  /** Lets the caller count transferred bytes (progress). */
  wrapSource?: (source: ImageSource, action: 'export' | 'push') => ImageSource;
  info: (message: string) => void;
  signal?: AbortSignal;
}

export interface ExportResult {
  /** The manifest the output holds (differs from the store's after conversion). */
  manifest: Descriptor;
  /** Names pushed to registries. */
  pushed: string[];
}

/**
 * Writes one `-o` output of a finished build: an image (OCI layout, docker archive, registry),
 * converted first when asked for other compression or media types, or the final filesystem
 * (`local` directory, `tar` file) with whiteouts applied.
 */
export async function exportImage(out: OutputSpec, ctx: ExportContext): Promise<ExportResult> {
  if (out.type === 'local' || out.type === 'tar') {
    await exportFilesystem(out.type, resolve(out.dest), ctx);
    ctx.info(`exported the image's filesystem to ${out.dest}${out.type === 'tar' ? ' (tar)' : ''}`);
    return { manifest: ctx.manifest, pushed: [] };
  }
  return exportImageOutput(out as ImageOutput, ctx);
}

async function exportImageOutput(out: ImageOutput, ctx: ExportContext): Promise<ExportResult> {
  const { signal } = ctx;
  const wantOci = out.ociMediaTypes ?? (ctx.format === undefined ? undefined : ctx.format === 'oci');
  const needsConversion = out.compression !== undefined || wantOci !== undefined;
  const manifest = needsConversion
    ? await convertImage(ctx.content, ctx.manifest, {
        ...(out.compression ? { compression: out.compression } : {}),
        ...(out.compressionLevel !== undefined ? { level: out.compressionLevel } : {}),
        ...(wantOci !== undefined ? { format: wantOci ? 'oci' : 'docker' } : {}),
        ...(signal ? { signal } : {}),
      })
    : ctx.manifest;
  const name = ctx.tags[0] ?? manifest.digest;
  const source = (action: 'export' | 'push'): ImageSource => {
    const s = new StoreImageSource(ctx.content, name, manifest);
    return ctx.wrapSource ? ctx.wrapSource(s, action) : s;
  };
  const opts = signal ? { signal } : {};
  switch (out.type) {
    case 'oci':
      await copyImage(source('export'), new OciLayoutDestination({ path: resolve(out.dest), tar: out.tar, names: ctx.tags }), opts);
      ctx.info(`exported OCI image layout to ${out.dest}`);
      return { manifest, pushed: [] };
    case 'docker':
      await copyImage(source('export'), new DockerArchiveDestination(out.dest, ctx.tags), opts);
      ctx.info(`exported docker archive to ${out.dest}`);
      return { manifest, pushed: [] };
    case 'registry': {
      const names = out.names.length > 0 ? out.names : [...ctx.tags];
      if (names.length === 0) {
        throw new TsbuildError('USAGE', 'pushing the image: no name to push to', { hint: 'add -t REGISTRY/NAME:TAG, or name=... to -o type=registry' });
      }
      const pushed: string[] = [];
      for (const n of names) {
        const ref = parseReference(n);
        await copyImage(source('push'), new RegistryDestination(ctx.registry, ref), opts);
        ctx.info(`pushed ${ref.toString()}`);
        pushed.push(ref.toString());
      }
      return { manifest, pushed };
    }
  }
}

async function exportFilesystem(kind: 'local' | 'tar', dest: string, ctx: ExportContext): Promise<void> {
  const manifest = JSON.parse((await ctx.content.readBytes(ctx.manifest.digest, ctx.signal)).toString('utf8')) as ImageManifest;
  const open = (d: Descriptor): NodeJS.ReadableStream => ctx.content.read(d.digest, ctx.signal);
  if (kind === 'local') {
    const st = await stat(dest).catch(() => undefined);
    if (st && !st.isDirectory()) throw new TsbuildError('USAGE', `exporting to ${dest}: not a directory`);
    await mkdir(dest, { recursive: true });
    const { skippedDevices } = await flattenLayers(manifest.layers, open, dest, ctx.signal);
    if (skippedDevices.length > 0) ctx.info(`not created: ${skippedDevices.length} device node(s), e.g. ${skippedDevices[0]}`);
    return;
  }
  await mkdir(dirname(dest), { recursive: true });
  const staging = await mkdtemp(join(dirname(dest), `.${basename(dest)}.staging-`));
  try {
    const root = join(staging, 'rootfs');
    await mkdir(root);
    await flattenLayers(manifest.layers, open, root, ctx.signal);
    const tmp = join(staging, 'out.tar');
    // portable: false keeps the image's owners; sorted, fixed-mtime entries are not needed here
    // (the files keep the layers' mtimes).
    const { create } = await import('tar');
    await create({ file: tmp, cwd: root, portable: false, preservePaths: false }, ['.']);
    await rename(tmp, dest);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
