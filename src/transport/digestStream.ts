import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { TsbuildError } from '../errors.js';

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A digest string is only trusted as a path or URL component once it has this shape. */
export function assertSha256Digest(digest: string, what: string): void {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) {
    throw new TsbuildError('MANIFEST_INVALID', `checking ${what}: unsupported or malformed digest "${digest}"`);
  }
}

/**
 * A pass-through that hashes what flows and fails at the end when the bytes do not match the
 * expected digest or size, or as soon as they exceed the size, so a lying server cannot make
 * us write unbounded data. Consumers must treat the data as untrusted until the stream ends.
 */
export function verifyingStream(expect: { digest: string; size?: number }, what: string): Transform {
  assertSha256Digest(expect.digest, what);
  const hash = createHash('sha256');
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      seen += chunk.length;
      if (expect.size !== undefined && seen > expect.size) {
        cb(mismatch(what, `more than the expected ${expect.size} bytes`));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback): void {
      if (expect.size !== undefined && seen !== expect.size) {
        cb(mismatch(what, `got ${seen} bytes, expected ${expect.size}`));
        return;
      }
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== expect.digest) {
        cb(mismatch(what, `got ${got}, expected ${expect.digest}`));
        return;
      }
      cb();
    },
  });
}

/** verifyingStream's checks, with its errors, on bytes already read whole. */
export function verifyBytes(bytes: Uint8Array, expect: { digest: string; size?: number }, what: string): void {
  assertSha256Digest(expect.digest, what);
  if (expect.size !== undefined && bytes.length !== expect.size) {
    throw mismatch(what, bytes.length > expect.size ? `more than the expected ${expect.size} bytes` : `got ${bytes.length} bytes, expected ${expect.size}`);
  }
  const got = sha256Digest(bytes);
  if (got !== expect.digest) throw mismatch(what, `got ${got}, expected ${expect.digest}`);
}

function mismatch(what: string, detail: string): TsbuildError {
  return new TsbuildError('DIGEST_MISMATCH', `verifying ${what}: ${detail}`, {
    hint: 'the content was corrupted in transit or by the server; retry, and report it if it persists',
  });
}

/** Reads a whole (small) stream, refusing more than `limit` bytes. */
export async function readAll(stream: NodeJS.ReadableStream, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (total > limit) {
      // Stop reading; the source is destroyed by the for-await exit.
      throw new TsbuildError('MANIFEST_INVALID', `reading ${what}: larger than ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
