import type { Descriptor } from '../image/types.js';
import { readAll } from './digestStream.js';
import type { ImageSource } from './types.js';

/**
 * A whole blob (a config, a manifest), verified against `desc`, refusing more than `limit` bytes
 * (MANIFEST_INVALID, `reading ${what}: larger than …`). Through the source's readBlob when it has one.
 */
export async function readWholeBlob(source: ImageSource, desc: Descriptor, limit: number, what: string, signal?: AbortSignal): Promise<Buffer> {
  if (source.readBlob) return source.readBlob(desc, limit, what, signal);
  return readAll(await source.getBlob(desc, signal), limit, what);
}
