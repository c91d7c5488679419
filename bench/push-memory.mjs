#!/usr/bin/env node
// Pushing a big image keeps tsbuild's memory bounded: builds an OCI layout with one layer of
// SIZE_MB (default 1024) random bytes, starts Debian's docker-registry on 127.0.0.1, pushes the
// layout with tsbuild's transport (chunked upload above 64 MiB, monolithic below with
// CHUNKED=0), and prints the pushing process's peak RSS. Needs `npm run build` first.
//   node bench/push-memory.mjs            # 1 GiB
//   SIZE_MB=256 CHUNKED=0 node bench/push-memory.mjs
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

if (process.argv[2] === '--worker') {
  const [, , , layout, ref] = process.argv;
  const { copyImage } = await import(join(root, 'dist/transport/copyImage.js'));
  const { OciLayoutSource } = await import(join(root, 'dist/transport/ociLayoutSource.js'));
  const { RegistryClient } = await import(join(root, 'dist/transport/registryClient.js'));
  const { RegistryDestination } = await import(join(root, 'dist/transport/registryDestination.js'));
  const { parseReference } = await import(join(root, 'dist/image/reference.js'));
  const chunked = process.env.CHUNKED !== '0';
  const client = new RegistryClient({ credentials: async () => undefined, chunkedUploadThreshold: chunked ? 64 << 20 : Number.MAX_SAFE_INTEGER });
  const started = Date.now();
  const r = await copyImage(new OciLayoutSource({ path: layout, tag: 'big' }), new RegistryDestination(client, parseReference(ref)), {});
  await client.close();
  const usage = process.resourceUsage();
  console.log(JSON.stringify({ pushed: r.manifestDigest, seconds: (Date.now() - started) / 1000, maxRssMiB: Math.round(usage.maxRSS / 1024), upload: chunked ? 'chunked' : 'monolithic' }));
  process.exit(0);
}

const sizeMb = Number(process.env.SIZE_MB ?? 1024);
const work = await mkdtemp(join(tmpdir(), 'tsbuild-bench-push-'));
const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function writeBlob(dir, bytes) {
  const digest = sha(bytes);
  await writeFile(join(dir, 'blobs/sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** One uncompressed tar layer: a single file of random bytes, streamed to disk and hashed. */
async function writeLayer(dir) {
  const size = sizeMb * 1024 * 1024;
  const header = Buffer.alloc(512);
  header.write('big.bin', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const hash = createHash('sha256');
  const tmp = join(dir, 'layer.tmp');
  const out = createWriteStream(tmp);
  const write = (b) => (hash.update(b), out.write(b) ? undefined : new Promise((r) => out.once('drain', r)));
  await write(header);
  const chunk = 1 << 20;
  for (let left = size; left > 0; left -= chunk) await write(randomBytes(Math.min(chunk, left)));
  await write(Buffer.alloc((512 - (size % 512)) % 512 + 1024));
  await new Promise((r) => out.end(r));
  const digest = `sha256:${hash.digest('hex')}`;
  await rename(tmp, join(dir, 'blobs/sha256', digest.slice(7)));
  return { digest, size: size + 512 + ((512 - (size % 512)) % 512) + 1024 };
}

async function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

try {
  const layout = join(work, 'layout');
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
  console.error(`writing a ${sizeMb} MiB layer ...`);
  const layer = await writeLayer(layout);
  const config = await writeBlob(layout, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} })));
  const manifest = await writeBlob(layout, Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'big' } }] }));

  const port = await freePort();
  await writeFile(join(work, 'registry.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const registry = spawn('/usr/bin/docker-registry', ['serve', join(work, 'registry.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  try {
    console.error('pushing ...');
    const time = spawnSync('/usr/bin/time', ['-v', process.execPath, fileURLToPath(import.meta.url), '--worker', layout, `127.0.0.1:${port}/bench/big:1`], { encoding: 'utf8' });
    if (time.status !== 0 && !time.stdout) {
      // no /usr/bin/time: run the worker directly (it reports its own peak RSS)
      const direct = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', layout, `127.0.0.1:${port}/bench/big:1`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      process.stdout.write(direct.stdout);
    } else {
      process.stdout.write(time.stdout);
      const peak = /Maximum resident set size \(kbytes\): (\d+)/.exec(time.stderr);
      if (peak) console.log(`/usr/bin/time -v: peak RSS ${Math.round(Number(peak[1]) / 1024)} MiB for a ${sizeMb} MiB layer`);
      else process.stderr.write(time.stderr);
    }
  } finally {
    registry.kill('SIGTERM');
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
