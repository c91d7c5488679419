import { Readable } from 'node:stream';
import { sha256Digest, verifyingStream } from '../../../src/transport/digestStream.js';
import type { Descriptor } from '../../../src/image/types.js';
import type { ImageSource, ManifestBlob } from '../../../src/transport/types.js';

/** An in-memory ImageSource over a map of blobs, for tests that need no disk or network. */
export class MemorySource implements ImageSource {
  readonly reference = 'memory:test';
  readonly blobs = new Map<string, { bytes: Buffer; mediaType: string }>();
  top: ManifestBlob | undefined;

  add(bytes: Buffer | string | object, mediaType: string): Descriptor {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(typeof bytes === 'string' ? bytes : JSON.stringify(bytes));
    const digest = sha256Digest(b);
    this.blobs.set(digest, { bytes: b, mediaType });
    return { mediaType, digest, size: b.length };
  }

  setTop(d: Descriptor): void {
    const b = this.blobs.get(d.digest)!;
    this.top = { bytes: b.bytes, mediaType: d.mediaType, digest: d.digest };
  }

  async getManifest(): Promise<ManifestBlob> {
    return this.top!;
  }

  async getManifestByDigest(digest: string): Promise<ManifestBlob> {
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`no ${digest}`);
    return { bytes: b.bytes, mediaType: b.mediaType, digest };
  }

  async getBlob(desc: Descriptor): Promise<NodeJS.ReadableStream> {
    const b = this.blobs.get(desc.digest);
    if (!b) throw new Error(`no ${desc.digest}`);
    return Readable.from([b.bytes]).pipe(verifyingStream(desc, desc.digest));
  }

  async close(): Promise<void> {}
}
