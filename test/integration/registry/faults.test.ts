import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReference } from '../../../src/image/reference.js';
import { parsePlatform } from '../../../src/image/platform.js';
import { copyImage } from '../../../src/transport/copyImage.js';
import { readAll } from '../../../src/transport/digestStream.js';
import { OciLayoutDestination } from '../../../src/transport/ociLayoutDestination.js';
import { OciLayoutSource } from '../../../src/transport/ociLayoutSource.js';
import { RegistryClient } from '../../../src/transport/registryClient.js';
import { RegistryDestination } from '../../../src/transport/registryDestination.js';
import { RegistrySource } from '../../../src/transport/registrySource.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../../helpers/faultProxy.js';
import { busyboxLayout, startRegistry, type BusyboxLayout, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir, removeTree } from '../../helpers/tmp.js';

const amd64 = parsePlatform('linux/amd64');
const pass: Fault = { kind: 'pass' };
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('registry client through a fault-injecting proxy', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let layout: BusyboxLayout;
  let work: string;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.host);
    layout = await busyboxLayout();
    work = await makeTempDir('tsbuild-faults-');
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (work) await removeTree(work);
  });

  // Fast backoff and a short idle timeout keep the test quick; the attempts bound is the default.
  const client = (extra: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient =>
    new RegistryClient({ credentials: async () => undefined, retry: { baseDelayMs: 20, maxDelayMs: 1_500 }, idleTimeoutMs: 800, ...extra });

  it('pushes and pulls with identical digests despite resets, 500s, 429 + Retry-After and stalls', async () => {
    const faults: Record<string, Fault> = {
      'POST 1': { kind: 'reset' },
      'HEAD 1': { kind: 'status', status: 500 },
      'PUT 1': { kind: 'status', status: 503 },
      'PUT 2': { kind: 'status', status: 429, retryAfter: '1' },
      'GET 1': { kind: 'stall' },
      'GET 2': { kind: 'status', status: 502 },
    };
    let blobGets = 0;
    proxy.setFaults(({ method, url, n }) => {
      if (method === 'GET' && url.includes('/blobs/sha256:')) {
        blobGets++;
        // The first layer download is cut halfway: the client resumes it with a Range request.
        if (blobGets === 1) return { kind: 'cutDownload', afterBytes: 100 };
      }
      return faults[`${method} ${n}`] ?? pass;
    });
    const c = client();
    const started = Date.now();
    try {
      const name = `${proxy.host}/faults/busybox:1`;
      const pushed = await copyImage(new OciLayoutSource({ path: layout.dir, tag: layout.tag }), new RegistryDestination(c, parseReference(name)), { platform: amd64 });
      expect(pushed.manifestDigest).toBe(layout.digest);
      const out = `${work}/pulled`;
      const pulled = await copyImage(new RegistrySource(c, parseReference(name)), new OciLayoutDestination({ path: out, tar: false, names: ['x'] }), { platform: amd64 });
      expect(pulled.manifestDigest).toBe(layout.digest);
      // Every injected fault was met, and retried, not worked around.
      const kinds = proxy.log.map((e) => e.fault);
      for (const k of ['reset', 'status', 'stall', 'cutDownload'] as const) expect(kinds).toContain(k);
      expect(proxy.log.some((e) => e.status === 429)).toBe(true);
      // Retry-After: 1 was honoured (at least one second of waiting), and attempts stayed bounded.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(proxy.log.length).toBeLessThan(30);
      const ranged = proxy.log.filter((e) => e.method === 'GET' && e.url.includes('/blobs/') && e.status === 206);
      expect(ranged.length).toBeGreaterThanOrEqual(1);
    } finally {
      await c.close();
      proxy.setFaults(() => pass);
    }
  });

  // docker-registry 2.8 keeps a session only when a broken PATCH wrote nothing (it cancels one
  // whose file grew past the acknowledged offset), so both cases are exercised: a chunk cut
  // before its bytes reached the registry is resumed in the same session at the offset the
  // registry reports; a chunk cut halfway makes the client start a fresh session. Both end with
  // the exact bytes in the registry.
  it.each([
    { cutAfter: 0, sessions: 1 },
    { cutAfter: 20 * 1024, sessions: 2 },
  ])('uploads a big blob in PATCH chunks and recovers when the connection is cut $cutAfter bytes into a chunk', async ({ cutAfter, sessions }) => {
    const blob = randomBytes(300 * 1024);
    const desc = { mediaType: 'application/octet-stream', digest: sha(blob), size: blob.length };
    proxy.log.length = 0;
    let patches = 0;
    proxy.setFaults(({ method }) => {
      if (method === 'PATCH' && ++patches === 2) return { kind: 'cutUpload', afterBytes: cutAfter };
      return pass;
    });
    const c = client({ chunkedUploadThreshold: 64 * 1024, chunkSize: 100 * 1024 });
    try {
      const repo = parseReference(`${proxy.host}/chunked/blob${cutAfter}`);
      // Small pieces, as a file stream would deliver them.
      const open = async (): Promise<NodeJS.ReadableStream> => Readable.from(Array.from({ length: 75 }, (_, i) => blob.subarray(i * 4096, (i + 1) * 4096)));
      await c.putBlob(repo, desc, open);
      const posts = proxy.log.filter((e) => e.method === 'POST');
      const patchLog = proxy.log.filter((e) => e.method === 'PATCH');
      const statusChecks = proxy.log.filter((e) => e.method === 'GET' && e.url.includes('/blobs/uploads/'));
      expect(patchLog.some((e) => e.fault === 'cutUpload')).toBe(true);
      expect(statusChecks.length).toBe(1); // asked the registry how much it had
      expect(posts).toHaveLength(sessions);
      if (sessions === 1) {
        expect(statusChecks[0]?.status).toBe(204);
        expect(patchLog).toHaveLength(4); // 3 chunks of 100 KiB + the one that was cut, no chunk sent twice
      }
      const direct = client();
      try {
        const back = await readAll(await direct.getBlob(parseReference(`${registry.host}/chunked/blob${cutAfter}`), desc), 1 << 20, 'blob');
        expect(sha(back)).toBe(desc.digest);
      } finally {
        await direct.close();
      }
    } finally {
      await c.close();
      proxy.setFaults(() => pass);
    }
  });

  it('mounts blobs from another repository instead of uploading them', async () => {
    const c = client();
    try {
      const from = parseReference(`${proxy.host}/mount/source:1`);
      await copyImage(new OciLayoutSource({ path: layout.dir, tag: layout.tag }), new RegistryDestination(c, from), { platform: amd64 });
      proxy.log.length = 0;
      const to = parseReference(`${proxy.host}/mount/target:1`);
      const r = await copyImage(new RegistrySource(c, from), new RegistryDestination(c, to), { platform: amd64 });
      expect(r.manifestDigest).toBe(layout.digest);
      const mounts = proxy.log.filter((e) => e.method === 'POST' && e.url.includes('mount=') && e.url.includes('from=mount%2Fsource'));
      expect(mounts.length).toBeGreaterThanOrEqual(2); // config and layer
      expect(mounts.every((e) => e.status === 201)).toBe(true);
      expect(proxy.log.filter((e) => (e.method === 'PUT' || e.method === 'PATCH') && e.url.includes('/blobs/'))).toEqual([]);
      // Only the config is read (to check the platform); no layer bytes travel.
      expect(proxy.log.filter((e) => e.method === 'GET' && e.url.includes('/blobs/')).length).toBeLessThanOrEqual(1);
    } finally {
      await c.close();
    }
  });

  it('gives up after a bounded number of attempts with a clear error', async () => {
    proxy.log.length = 0;
    proxy.setFaults(() => ({ kind: 'status', status: 503 }));
    const c = client();
    try {
      const err = await c.getManifest(parseReference(`${proxy.host}/faults/busybox:1`), '1').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'REGISTRY_HTTP', message: expect.stringMatching(/answered HTTP 503: injected HTTP 503/) });
      expect(proxy.log).toHaveLength(c.policy.maxAttempts);
    } finally {
      await c.close();
      proxy.setFaults(() => pass);
    }
  });
});
