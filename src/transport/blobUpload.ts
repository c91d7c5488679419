import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import type { RegistryClient, RegistryResponse, RepositoryRef } from './registryClient.js';
import { isTransient } from './registryClient.js';
import { TransientRegistryError } from './registryErrors.js';
import { nextDelay } from './retryPolicy.js';

export interface UploadOptions {
  /** Blobs larger than this go in PATCH chunks. */
  threshold: number;
  chunkSize: number;
  /** A repository on the same registry that may hold the blob already (cross-repository mount). */
  mountFrom?: RepositoryRef;
  signal?: AbortSignal;
}

type Upload = { client: RegistryClient; repo: RepositoryRef; desc: Descriptor; what: string; signal: AbortSignal | undefined };

/**
 * Sends one blob, as the distribution spec describes: POST (with `mount`/`from` when a source
 * repository is known: 201 means the registry linked it and nothing is sent), then either one
 * PUT with the whole stream, or PATCH chunks with Content-Range. A chunk whose connection
 * breaks is not started over: the upload's status (GET, `Range: 0-N`) says how much arrived,
 * and the source is reopened and skipped to there. A session the registry lost starts a new
 * upload; all of it within the client's bounded attempts.
 */
export async function uploadBlob(
  client: RegistryClient,
  repo: RepositoryRef,
  desc: Descriptor,
  open: () => Promise<NodeJS.ReadableStream>,
  options: UploadOptions,
): Promise<void> {
  const u: Upload = { client, repo, desc, what: `blob ${desc.digest} to ${repo.registry}/${repo.repository}`, signal: options.signal };
  for (let attempt = 1; ; attempt++) {
    try {
      const location = await startUpload(u, attempt === 1 ? options.mountFrom : undefined);
      if (location === undefined) return; // mounted
      if (desc.size <= options.threshold) await putWhole(u, location, open);
      else await putChunks(u, location, open, options.chunkSize);
      return;
    } catch (err) {
      if (u.signal?.aborted || !isTransient(err) || attempt >= client.policy.maxAttempts) throw err;
      await sleep(nextDelay(client.policy, attempt, undefined), undefined, u.signal ? { signal: u.signal } : {});
    }
  }
}

function locationOf(res: RegistryResponse, u: Upload): URL {
  const location = res.headers.get('location');
  if (!location) throw new TsbuildError('REGISTRY_HTTP', `pushing ${u.what}: the registry gave no upload location`);
  return new URL(location, res.url);
}

async function startUpload(u: Upload, mountFrom: RepositoryRef | undefined): Promise<URL | undefined> {
  const mount = mountFrom && mountFrom.registry === u.repo.registry && mountFrom.repository !== u.repo.repository;
  const path = mount ? `blobs/uploads/?mount=${encodeURIComponent(u.desc.digest)}&from=${encodeURIComponent(mountFrom.repository)}` : 'blobs/uploads/';
  let res: RegistryResponse;
  try {
    res = await u.client.request({
      method: 'POST', repo: u.repo, path, op: 'push', what: u.what, signal: u.signal, headers: { 'Content-Length': '0' },
      // The token for a mount also asks to pull from the source repository, or the registry refuses it.
      ...(mount ? { pullFrom: mountFrom.repository } : {}),
    });
  } catch (err) {
    // A token service that refuses the source's scope outright: upload instead; a real auth problem shows there.
    if (mount && err instanceof TsbuildError && err.code === 'REGISTRY_AUTH' && !u.signal?.aborted) return startUpload(u, undefined);
    throw err;
  }
  if (mount && res.status >= 400 && res.status < 500 && res.status !== 429) {
    // A refused mount (e.g. 401: the token service granted no pull on the other repository) is only a missed shortcut.
    await res.discard();
    return startUpload(u, undefined);
  }
  await u.client.expectOk(res, 'push', u.what, u.repo, mount ? [201, 202] : [202]);
  await res.discard();
  if (res.status === 201) return undefined;
  return locationOf(res, u);
}

async function putWhole(u: Upload, location: URL, open: () => Promise<NodeJS.ReadableStream>): Promise<void> {
  const url = new URL(location);
  url.searchParams.append('digest', u.desc.digest);
  const res = await u.client.request({
    method: 'PUT', repo: u.repo, path: url.toString(), op: 'push', what: u.what, signal: u.signal, retry: false, body: open,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(u.desc.size) },
  });
  await u.client.expectOk(res, 'push', u.what, u.repo, [201, 204]);
  await res.discard();
}

async function putChunks(u: Upload, first: URL, open: () => Promise<NodeJS.ReadableStream>, chunkSize: number): Promise<void> {
  const size = u.desc.size;
  let location = first;
  let offset = 0;
  let source = await open();
  let cursor = new ByteCursor(source);
  try {
    for (let failures = 0; offset < size; ) {
      const n = Math.min(chunkSize, size - offset);
      try {
        const body = cursor.take(n);
        const res = await u.client.request({
          method: 'PATCH', repo: u.repo, path: location.toString(), op: 'push', what: u.what, signal: u.signal, retry: false,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n), 'Content-Range': `${offset}-${offset + n - 1}` },
          body: async () => Readable.from(body),
        });
        await u.client.expectOk(res, 'push', u.what, u.repo, [202]);
        await res.discard();
        location = locationOf(res, u);
        offset += n;
        failures = 0;
      } catch (err) {
        failures++;
        if (u.signal?.aborted || !isTransient(err) || failures >= u.client.policy.maxAttempts) throw err;
        await sleep(nextDelay(u.client.policy, failures, undefined), undefined, u.signal ? { signal: u.signal } : {});
        const status = await uploadStatus(u, location);
        if (status === undefined) throw new TransientRegistryError(`pushing ${u.what}: the registry lost the upload session`, { cause: err });
        ({ location, offset } = status);
        (source as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        source = await open();
        cursor = new ByteCursor(source);
        await cursor.skip(offset);
      }
    }
    const url = new URL(location);
    url.searchParams.append('digest', u.desc.digest);
    const res = await u.client.request({
      method: 'PUT', repo: u.repo, path: url.toString(), op: 'push', what: u.what, signal: u.signal, headers: { 'Content-Length': '0' },
      body: async () => Buffer.alloc(0),
    });
    await u.client.expectOk(res, 'push', u.what, u.repo, [201, 204]);
    await res.discard();
  } finally {
    (source as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }
}

/** How much of an upload the registry holds (`Range: 0-N`, N inclusive), or undefined when the session is gone. */
async function uploadStatus(u: Upload, location: URL): Promise<{ location: URL; offset: number } | undefined> {
  const res = await u.client.request({ method: 'GET', repo: u.repo, path: location.toString(), op: 'push', what: u.what, signal: u.signal });
  await res.discard();
  if (res.status !== 204) return undefined;
  const m = /^(?:bytes=)?0-(\d+)$/.exec((res.headers.get('range') ?? '').trim());
  // "0-0" means nothing yet in distribution's spelling (it cannot tell 0 from 1 byte).
  const offset = m && m[1] !== '0' ? Number(m[1]) + 1 : 0;
  return { location: res.headers.get('location') ? locationOf(res, u) : location, offset };
}

/** Hands out a stream's bytes in exact-length pieces, so a chunk never needs a buffer of its own. */
class ByteCursor {
  readonly #it: AsyncIterator<Buffer | string>;
  #left: Buffer | undefined;

  constructor(source: NodeJS.ReadableStream) {
    this.#it = (source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  }

  async #next(): Promise<Buffer | undefined> {
    if (this.#left) {
      const b = this.#left;
      this.#left = undefined;
      return b;
    }
    const r = await this.#it.next();
    if (r.done) return undefined;
    return typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
  }

  async *take(n: number): AsyncGenerator<Buffer> {
    let want = n;
    while (want > 0) {
      const b = await this.#next();
      if (!b) throw new TsbuildError('INTERNAL', 'uploading blob: the source ended before its declared size');
      if (b.length > want) {
        this.#left = b.subarray(want);
        yield b.subarray(0, want);
        return;
      }
      want -= b.length;
      yield b;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      // discarded: the registry has these bytes
    }
  }
}
