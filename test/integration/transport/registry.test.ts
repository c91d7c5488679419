import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlatform } from '../../../src/image/platform.js';
import { parseReference } from '../../../src/image/reference.js';
import { copyImage } from '../../../src/transport/copyImage.js';
import { readAll } from '../../../src/transport/digestStream.js';
import { OciLayoutDestination, ociNameForImage } from '../../../src/transport/ociLayoutDestination.js';
import { OciLayoutSource } from '../../../src/transport/ociLayoutSource.js';
import { RegistryClient } from '../../../src/transport/registryClient.js';
import { RegistryDestination } from '../../../src/transport/registryDestination.js';
import { RegistrySource } from '../../../src/transport/registrySource.js';
import { resolveImage } from '../../../src/transport/resolveImage.js';
import { freePort, startRegistry, type LocalRegistry } from './localRegistry.js';
import { makeOciLayout, type Fixture } from './ociFixture.js';

const run = promisify(execFile);
const amd64 = parsePlatform('linux/amd64');
const noCreds = async () => undefined;
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; host: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { server, host: `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

describe('registry client against a real docker-registry', () => {
  let registry: LocalRegistry;
  let work: string;
  let fixture: Fixture;
  let client: RegistryClient;

  beforeAll(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'tsbuild-transport-'));
    fixture = await makeOciLayout(join(work, 'src'), 'v1');
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${join(work, 'src')}:v1`, `docker://${registry.host}/test/img:v1`]);
    client = new RegistryClient({ credentials: noCreds, retryDelayMs: 10 });
  });

  afterAll(async () => {
    await client?.close();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pulls what skopeo pushed: manifest, config and layer digests verified', async () => {
    const source = new RegistrySource(client, parseReference(`${registry.host}/test/img:v1`));
    const r = await resolveImage(source, amd64);
    expect(r.manifestBlob.digest).toBe(fixture.manifestDigest);
    expect(r.configDescriptor.digest).toBe(fixture.configDigest);
    expect(r.config.rootfs.diff_ids).toEqual([fixture.diffId]);
    expect(r.manifest.layers.map((l) => l.digest)).toEqual([fixture.layerDigest]);
    const layer = await readAll(await source.getBlob(r.manifest.layers[0]!), 1 << 20, 'layer');
    expect(sha(layer)).toBe(fixture.layerDigest);
    expect(sha(gunzipSync(layer))).toBe(fixture.diffId);
    // by digest, too
    const byDigest = await client.getManifest(parseReference(`${registry.host}/test/img`), fixture.manifestDigest);
    expect(byDigest.digest).toBe(fixture.manifestDigest);
    expect((await client.headManifest(parseReference(`${registry.host}/test/img`), 'v1'))?.digest).toBe(fixture.manifestDigest);
  });

  it('pushes with copyImage and skopeo sees the same digest', async () => {
    const source = new RegistrySource(client, parseReference(`${registry.host}/test/img:v1`));
    const dest = new RegistryDestination(client, parseReference(`${registry.host}/other/copy:v2`));
    const events: string[] = [];
    const r = await copyImage(source, dest, { platform: amd64, onProgress: (e) => events.push(e.status) });
    expect(r.manifestDigest).toBe(fixture.manifestDigest);
    expect(events.filter((s) => s === 'done')).toHaveLength(3); // config, layer, manifest
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/other/copy:v2`]);
    expect(JSON.parse(stdout).Digest).toBe(fixture.manifestDigest);
    // a second copy finds every blob already there
    const again: string[] = [];
    await copyImage(source, new RegistryDestination(client, parseReference(`${registry.host}/other/copy:v3`)), {
      platform: amd64,
      onProgress: (e) => again.push(e.status),
    });
    expect(again.filter((s) => s === 'exists')).toHaveLength(2);
  });

  it('writes an OCI layout dir and tar that skopeo and umoci read', async () => {
    const source = new RegistrySource(client, parseReference(`${registry.host}/test/img:v1`));
    const dir = join(work, 'out-dir');
    await copyImage(source, new OciLayoutDestination({ path: dir, tar: false, names: [ociNameForImage(parseReference('app:1'))] }), { platform: amd64 });
    const inspected = JSON.parse((await run('skopeo', ['inspect', `oci:${dir}:1`])).stdout);
    expect(inspected.Digest).toBe(fixture.manifestDigest);
    const { stdout: ls } = await run('umoci', ['ls', '--layout', dir]);
    expect(ls.split('\n')).toContain('1');

    const tarPath = join(work, 'out.tar');
    await copyImage(source, new OciLayoutDestination({ path: tarPath, tar: true, names: [{ refName: 'v9' }] }), { platform: amd64 });
    const fromTar = JSON.parse((await run('skopeo', ['inspect', `oci-archive:${tarPath}:v9`])).stdout);
    expect(fromTar.Digest).toBe(fixture.manifestDigest);

    // and back from the layout into the registry
    const back = new OciLayoutSource({ path: dir, tag: '1' });
    const r = await copyImage(back, new RegistryDestination(client, parseReference(`${registry.host}/from/layout:1`)), { platform: amd64 });
    expect(r.manifestDigest).toBe(fixture.manifestDigest);
  });

  it('maps 404 to IMAGE_NOT_FOUND naming the image and registry', async () => {
    const source = new RegistrySource(client, parseReference(`${registry.host}/test/img:nope`));
    await expect(source.getManifest()).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      message: expect.stringContaining(`pulling ${registry.host}/test/img:nope from ${registry.host}`),
    });
  });
});

describe('registry client against in-test fake servers', () => {
  it('fails a lying blob with DIGEST_MISMATCH and a lying manifest digest header too', async () => {
    const realLayer = Buffer.from('the real layer');
    const manifest = Buffer.from('{"schemaVersion":2}');
    const { server, host } = await listen((req, res) => {
      if (req.url?.startsWith('/v2/lie/blobs/')) {
        res.writeHead(200, { 'Content-Length': String(realLayer.length) });
        res.end(Buffer.from('the fake layer')); // same length, different bytes
        return;
      }
      if (req.url === '/v2/lie/manifests/v1') {
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': sha('other') });
        res.end(manifest);
        return;
      }
      res.writeHead(404).end();
    });
    const client = new RegistryClient({ credentials: noCreds });
    try {
      const ref = parseReference(`${host}/lie:v1`);
      const stream = await client.getBlob(ref, { mediaType: 'x', digest: sha(realLayer), size: realLayer.length });
      await expect(readAll(stream, 1 << 20, 'blob')).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
      await expect(client.getManifest(ref, 'v1')).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    } finally {
      await client.close();
      server.close();
    }
  });

  it('does the bearer token flow with stored credentials and caches the token', async () => {
    let tokenRequests = 0;
    const seenScopes: string[] = [];
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('c'), size: 1 }, layers: [] }));
    const { server, host } = await listen((req, res) => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      if (url.pathname === '/token') {
        tokenRequests++;
        seenScopes.push(url.searchParams.get('scope') ?? '');
        if (req.headers.authorization !== `Basic ${Buffer.from('alice:wonder').toString('base64')}` || url.searchParams.get('service') !== 'fake') {
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'T0KEN', expires_in: 300 }));
        return;
      }
      if (req.headers.authorization !== 'Bearer T0KEN') {
        res.writeHead(401, {
          'WWW-Authenticate': `Bearer realm="http://${req.headers.host}/token",service="fake",scope="repository:secret/img:pull"`,
          'Content-Type': 'application/json',
        });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': sha(manifest) }).end(manifest);
    });
    const withCreds = new RegistryClient({ credentials: async (r) => (r === host ? { username: 'alice', password: 'wonder' } : undefined) });
    const anonymous = new RegistryClient({ credentials: noCreds });
    try {
      const ref = parseReference(`${host}/secret/img:v1`);
      expect((await withCreds.getManifest(ref, 'v1')).digest).toBe(sha(manifest));
      expect((await withCreds.getManifest(ref, sha(manifest))).digest).toBe(sha(manifest));
      expect(tokenRequests).toBe(1);
      expect(seenScopes).toEqual(['repository:secret/img:pull']);
      const err = await anonymous.getManifest(ref, 'v1').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'REGISTRY_AUTH', hint: expect.stringContaining('tsbuild login') });
      expect(String((err as Error).message)).not.toContain('wonder');
    } finally {
      await withCreds.close();
      await anonymous.close();
      server.close();
    }
  });

  it('retries a 5xx, then reports REGISTRY_HTTP with the registry message', async () => {
    let hits = 0;
    const { server, host } = await listen((_req, res) => {
      hits++;
      res.writeHead(503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'storage is on fire' }] }));
    });
    const client = new RegistryClient({ credentials: noCreds, retries: 2, retryDelayMs: 5 });
    try {
      await expect(client.getManifest(parseReference(`${host}/x:1`), '1')).rejects.toMatchObject({
        code: 'REGISTRY_HTTP',
        message: expect.stringMatching(/HTTP 503: storage is on fire/),
      });
      expect(hits).toBe(3);
    } finally {
      await client.close();
      server.close();
    }
  });

  it('reports REGISTRY_UNREACHABLE with host:port when nothing listens', async () => {
    const port = await freePort();
    const client = new RegistryClient({ credentials: noCreds });
    try {
      await expect(client.getManifest(parseReference(`127.0.0.1:${port}/x:1`), '1')).rejects.toMatchObject({
        code: 'REGISTRY_UNREACHABLE',
        message: expect.stringContaining(`127.0.0.1:${port}`),
      });
    } finally {
      await client.close();
    }
  });
});
