/**
 * What happens after a build: the `-o` outputs, `--push`, `--iidfile` and `--metadata-file`
 * (buildx's keys), kept out of buildCommand.ts so the command stays a short wiring.
 */
import { resolve } from 'node:path';
import type { Descriptor } from '../image/types.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ExportContext } from '../transport/exportImage.js';
import type { OutputSpec } from '../transport/outputTypes.js';
import type { RegistryClient } from '../transport/registryClient.js';
import { writeFileAtomic } from '../util/atomicWrite.js';

export interface BuildOutputsInput {
  outputs: readonly OutputSpec[];
  flags: { push: boolean; iidfile?: string | undefined; 'metadata-file'?: string | undefined; format?: string | undefined };
  content: ContentStore;
  /** Made when an output needs it. */
  registry: () => Promise<RegistryClient>;
  result: { manifest: Descriptor; config: { digest: string }; tags: readonly string[] };
  wrapSource?: ExportContext['wrapSource'];
  info: (message: string) => void;
  signal?: AbortSignal;
}

export async function writeBuildOutputs(input: BuildOutputsInput): Promise<void> {
  const { flags, result } = input;
  const outputs = [...input.outputs];
  // --push is `-o type=registry` for the -t names; said twice, it still pushes once.
  if (flags.push && !outputs.some((o) => o.type === 'registry' && o.names.length === 0)) outputs.push({ type: 'registry', names: [] });
  let final: Descriptor | undefined;
  const pushed: string[] = [];
  for (const out of outputs) {
    const { exportImage } = await import('../transport/exportImage.js');
    const r = await exportImage(out, {
      content: input.content,
      manifest: result.manifest,
      tags: result.tags,
      registry: await input.registry(),
      ...(flags.format === 'oci' || flags.format === 'docker' ? { format: flags.format } : {}),
      ...(input.wrapSource ? { wrapSource: input.wrapSource } : {}),
      info: input.info,
      ...(input.signal ? { signal: input.signal } : {}),
    });
    if (out.type !== 'local' && out.type !== 'tar') final ??= r.manifest;
    pushed.push(...r.pushed);
  }
  if (flags.iidfile) await writeFileAtomic(resolve(flags.iidfile), result.config.digest, input.signal);
  if (flags['metadata-file']) {
    const descriptor = final ?? result.manifest;
    const metadata: Record<string, unknown> = {
      'containerimage.config.digest': result.config.digest,
      'containerimage.descriptor': { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size },
      'containerimage.digest': descriptor.digest,
    };
    const names = pushed.length > 0 ? pushed : result.tags;
    if (names.length > 0) metadata['image.name'] = [...new Set(names)].join(',');
    await writeFileAtomic(resolve(flags['metadata-file']), `${JSON.stringify(metadata, null, 2)}\n`, input.signal);
  }
}
