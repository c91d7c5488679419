import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { mkdirSync, renameSync, rmSync, statSync, type BigIntStats } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TsbuildError, wrapError } from '../errors.js';
import { lgetxattrSync, lsetxattr } from '../util/fsx.js';
import { statIfExistsSync } from '../util/lstatIfExists.js';
import { testPausePoint } from '../util/testPause.js';
import { digestFromHex, digestHex } from './digest.js';

/**
 * Kept with a blob found correct (written through this store, or hashed): `<size>:<mtime ns>` at
 * that moment. A blob with a matching mark is trusted without hashing it again; one changed since
 * (or without a mark, or on a filesystem without user xattrs) is hashed. Rot that keeps size and
 * mtime is left to `tsbuild fsck`, which always hashes.
 */
const VERIFIED_XATTR = 'user.tsbuild.verified';

function markOf(st: BigIntStats | undefined): string | undefined {
  return st?.isFile() ? `${st.size}:${st.mtimeNs}` : undefined;
}

/** Marks `path` as hashed correct; best effort (no user xattrs: every process hashes it once). */
async function markVerified(path: string): Promise<void> {
  let mark: string | undefined;
  try {
    mark = markOf(statSync(path, { bigint: true }));
  } catch {
    return;
  }
  if (mark !== undefined) await lsetxattr(path, VERIFIED_XATTR, Buffer.from(mark)).catch(() => undefined);
}

/** `st`: the blob's stat, taken just before. Synchronous (see has()). */
function isMarkedVerified(path: string, st: BigIntStats): boolean {
  const mark = markOf(st);
  if (mark === undefined) return false;
  let stored: Buffer | undefined;
  try {
    stored = lgetxattrSync(path, VERIFIED_XATTR);
  } catch {
    return false;
  }
  return stored?.toString() === mark;
}

export interface BlobExpectation {
  digest?: string;
  size?: number;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

/**
 * Content-addressed blobs under `<root>/blobs/sha256/<hex>`. Every write goes to an exclusive
 * temp file in `<root>/tmp` (same filesystem), is fsynced, checked against the expected digest
 * and size, and only then renamed into place, so a reader never sees a partial or wrong blob.
 */
export class ContentStore {
  readonly root: string;
  readonly blobsDir: string;
  readonly tmpDir: string;
  // Blobs hashed by this instance (written or verified): "verified once", then trusted.
  private readonly verified = new Set<string>();
  private ready: Promise<void> | undefined;

  constructor(root: string) {
    this.root = root;
    this.blobsDir = join(root, 'blobs', 'sha256');
    this.tmpDir = join(root, 'tmp');
  }

  blobPath(digest: string): string {
    return join(this.blobsDir, digestHex(digest));
  }

  /** Creates the directories once per instance. */
  init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.blobsDir, { recursive: true });
      await mkdir(this.tmpDir, { recursive: true });
    })();
    return this.ready;
  }

  /**
   * Whether a valid blob is present. A blob not yet hashed by this instance, and not marked as
   * found correct and unchanged since (see VERIFIED_XATTR), is verified first (another tool or a
   * bad disk can leave garbage); a corrupt one is removed.
   */
  async has(digest: string, signal?: AbortSignal): Promise<boolean> {
    const path = this.blobPath(digest);
    // Synchronous: every build asks this of each base layer and of its image's blobs.
    const st = statIfExistsSync(path, { bigint: true });
    if (this.verified.has(digest)) {
      if (st) return true;
      this.verified.delete(digest);
      return false;
    }
    if (!st) return false;
    if (isMarkedVerified(path, st)) {
      this.verified.add(digest);
      return true;
    }
    if (await this.verify(digest, signal)) return true;
    await rm(path, { force: true });
    return false;
  }

  /** Hashes the stored blob and compares it with its name. */
  async verify(digest: string, signal?: AbortSignal): Promise<boolean> {
    const path = this.blobPath(digest);
    const hash = createHash('sha256');
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw wrapError('STORE_CORRUPT', `verifying blob ${digest}`, err);
    }
    try {
      await pipeline(fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false }), hash, { signal });
    } finally {
      await fh.close();
    }
    const ok = `sha256:${hash.digest('hex')}` === digest;
    if (ok) {
      this.verified.add(digest);
      await markVerified(path);
    } else this.verified.delete(digest);
    return ok;
  }

  openWriter(): BlobWriter {
    return new BlobWriter(this);
  }

  async write(
    source: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
    expect: BlobExpectation = {},
    signal?: AbortSignal,
  ): Promise<BlobInfo> {
    const writer = new BlobWriter(this, expect);
    try {
      await pipeline(source, writer, signal ? { signal } : {});
    } catch (err) {
      await writer.abort();
      if (err instanceof TsbuildError) throw err;
      if ((err as Error).name === 'AbortError') throw new TsbuildError('ABORTED', 'writing blob: aborted', { cause: err });
      throw wrapError('STORE_CORRUPT', 'writing blob', err);
    }
    return writer.commit(expect);
  }

  /**
   * write() for bytes already in memory (configs, manifests: every build that changes its image
   * writes two), with its checks, errors and install, but the temp file written directly rather
   * than through a stream whose every step is a thread-pool round trip of its own.
   */
  async writeBytes(bytes: Uint8Array, expect: BlobExpectation = {}, signal?: AbortSignal): Promise<BlobInfo> {
    try {
      // As init(), which write() runs first, whatever happens next.
      mkdirSync(this.blobsDir, { recursive: true });
      mkdirSync(this.tmpDir, { recursive: true });
    } catch (err) {
      throw wrapError('STORE_CORRUPT', 'writing blob', err);
    }
    if (signal?.aborted) throw new TsbuildError('ABORTED', 'writing blob: aborted', { cause: signal.reason });
    const size = bytes.length;
    if (expect.size !== undefined && size > expect.size) throw moreThanExpected(expect.size);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    checkWritten(digest, size, expect);
    const tmpPath = tempBlobPath(this.tmpDir);
    try {
      // Written and fsync'd on the thread pool: the fsync waits for the disk, and other stages
      // go on meanwhile.
      const fh = await open(tmpPath, 'wx', 0o644);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      rmSync(tmpPath, { force: true });
      throw wrapError('STORE_CORRUPT', 'writing blob', err);
    }
    try {
      await testPausePoint('blob-install');
      await this.install(tmpPath, digest);
    } catch (err) {
      rmSync(tmpPath, { force: true });
      throw err;
    }
    return { digest, size };
  }

  /** A stream of the blob's bytes; a missing blob fails the stream with BLOB_NOT_FOUND. */
  read(digest: string, signal?: AbortSignal): Readable {
    return Readable.from(this.chunks(digest, signal), { objectMode: false });
  }

  async readBytes(digest: string, signal?: AbortSignal): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of this.chunks(digest, signal)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /** Digests of all blobs present (not verified). Temp files live elsewhere and never show up. */
  async *list(): AsyncIterable<string> {
    let names: string[];
    try {
      names = await readdir(this.blobsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names.sort()) {
      if (/^[0-9a-f]{64}$/.test(name)) yield digestFromHex(name);
    }
  }

  async delete(digest: string): Promise<void> {
    this.verified.delete(digest);
    await rm(this.blobPath(digest), { force: true });
  }

  private async *chunks(digest: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const path = this.blobPath(digest);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new TsbuildError('BLOB_NOT_FOUND', `reading blob ${digest}: not in the content store`, { cause: err });
      }
      throw wrapError('STORE_CORRUPT', `reading blob ${digest}`, err);
    }
    try {
      for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false, signal })) {
        yield chunk as Buffer;
      }
    } finally {
      await fh.close();
    }
  }

  /** @internal Installs a finished temp file as `digest`. */
  async install(tmpPath: string, digest: string): Promise<void> {
    const dest = this.blobPath(digest);
    // The stat and rename are synchronous (µs each); the xattr and the directory's fsync are not.
    if (this.verified.has(digest) && statIfExistsSync(dest)) {
      rmSync(tmpPath, { force: true });
      return;
    }
    // Our temp file was hashed on the way in, so it is correct by construction; replacing an
    // existing (unverified) blob with it is cheaper than re-hashing that one, and atomic.
    await markVerified(tmpPath);
    renameSync(tmpPath, dest);
    // The fsync waits for the disk: on the thread pool, so other stages go on meanwhile.
    await syncDir(this.blobsDir);
    this.verified.add(digest);
  }
}

/**
 * A Writable that hashes and writes to a temp file; `commit()` checks and installs it.
 * If `expect.size` is known the write fails as soon as more bytes arrive.
 */
export class BlobWriter extends Writable {
  private readonly store: ContentStore;
  private readonly hash: Hash = createHash('sha256');
  private readonly tmpPath: string;
  private readonly expectSize: number | undefined;
  private fh: FileHandle | undefined;
  private written = 0;
  private done = false;

  constructor(store: ContentStore, expect: BlobExpectation = {}) {
    super({ highWaterMark: 1 << 20 });
    this.store = store;
    this.expectSize = expect.size;
    this.tmpPath = tempBlobPath(store.tmpDir);
  }

  get size(): number {
    return this.written;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.store
      .init()
      .then(() => open(this.tmpPath, 'wx', 0o644))
      .then((fh) => {
        this.fh = fh;
        callback();
      }, callback);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written += chunk.length;
    if (this.expectSize !== undefined && this.written > this.expectSize) {
      callback(moreThanExpected(this.expectSize));
      return;
    }
    this.hash.update(chunk);
    writeAll(this.fh!, chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.fh!.sync().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    (fh ? fh.close() : Promise.resolve()).then(
      () => callback(error),
      () => callback(error),
    );
  }

  /** Ends the stream if needed, checks digest and size, and moves the blob into place. */
  async commit(expect: BlobExpectation = {}): Promise<BlobInfo> {
    if (this.done) throw new TsbuildError('INTERNAL', 'committing blob: writer already committed or aborted');
    this.done = true;
    try {
      if (!this.writableFinished) {
        await new Promise<void>((resolve, reject) => {
          this.once('error', reject);
          this.once('finish', () => resolve());
          if (!this.writableEnded) this.end();
        });
      }
      await this.closeFile();
      const digest = `sha256:${this.hash.digest('hex')}`;
      const size = this.written;
      checkWritten(digest, size, { ...expect, ...(expect.size === undefined && this.expectSize !== undefined ? { size: this.expectSize } : {}) });
      await testPausePoint('blob-install');
      await this.store.install(this.tmpPath, digest);
      return { digest, size };
    } catch (err) {
      await this.closeFile().catch(() => undefined);
      await rm(this.tmpPath, { force: true });
      throw err;
    }
  }

  /** Drops the temp file; safe to call more than once. */
  async abort(): Promise<void> {
    this.done = true;
    // Wait for 'close': the temp file may still be being opened by _construct.
    if (!this.closed) {
      const closed = once(this, 'close').catch(() => undefined);
      if (!this.destroyed) this.destroy();
      await closed;
    }
    await this.closeFile().catch(() => undefined);
    await rm(this.tmpPath, { force: true });
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

/** The maker's pid in the name lets `tsbuild fsck --repair` tell a dead build's leftovers from a live one's. */
function tempBlobPath(tmpDir: string): string {
  return join(tmpDir, `blob-${process.pid}-${randomBytes(8).toString('hex')}`);
}

function moreThanExpected(size: number): TsbuildError {
  return new TsbuildError('DIGEST_MISMATCH', `writing blob: more than the expected ${size} bytes`, {
    hint: 'the source sent a different blob than its descriptor announced',
  });
}

/** What was written (`digest`, `size`) against what was expected: the digest first, then the size. */
function checkWritten(digest: string, size: number, expect: BlobExpectation): void {
  if (expect.digest !== undefined && expect.digest !== digest) {
    throw new TsbuildError('DIGEST_MISMATCH', `writing blob: expected ${expect.digest}, got ${digest} (${size} bytes)`, {
      hint: 'the source is corrupt or was modified in transit',
    });
  }
  if (expect.size !== undefined && expect.size !== size) {
    throw new TsbuildError('DIGEST_MISMATCH', `writing blob ${digest}: expected ${expect.size} bytes, got ${size}`, {
      hint: 'the source is corrupt or was truncated',
    });
  }
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}

/** Makes a rename durable (the directory entry itself must reach the disk). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
