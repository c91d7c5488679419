/**
 * The reader fuzz targets: the layer tar reader, layer extraction (gzip + tar + the tree writer)
 * and the manifest / index / config parsers. The only acceptable failure is a TsbuildError;
 * anything else (TypeError, RangeError, a hang, a file outside the target dir) is a bug.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { TsbuildError } from '../../../src/errors.js';
import { MediaType } from '../../../src/image/mediaTypes.js';
import { extractLayer } from '../../../src/layer/extractLayer.js';
import { encodeTarHeader, padding } from '../../../src/layer/tarHeader.js';
import { readTar } from '../../../src/layer/tarReader.js';
import { manifestBlobOf } from '../../../src/transport/manifestBlob.js';
import { parseConfig, parseIndex, parseManifest } from '../../../src/transport/resolveImage.js';
import { mutateBytes, mutateJson, prng } from './mutator.js';

export type FuzzTarget = 'tar' | 'extract' | 'manifest' | 'index' | 'config';

export interface FuzzCounts {
  inputs: number;
  accepted: number;
  refused: number;
}

export class FuzzFailure extends Error {
  constructor(target: FuzzTarget, seed: number, index: number, input: Buffer, cause: unknown) {
    super(`fuzz ${target} seed=${seed} #${index}: ${(cause as Error)?.stack ?? String(cause)}\ninput (base64): ${input.toString('base64').slice(0, 2000)}`);
  }
}

function entry(path: string, type: Parameters<typeof encodeTarHeader>[0]['type'], data = '', extra: Partial<Parameters<typeof encodeTarHeader>[0]> = {}): Buffer {
  const body = Buffer.from(data);
  return Buffer.concat([
    encodeTarHeader({ path, type, mode: 0o755, uid: 0, gid: 0, size: body.length, mtime: 1_700_000_000, ...extra }),
    body,
    Buffer.alloc(padding(body.length)),
  ]);
}

/** Tars that exercise every branch the reader has: pax (long names, xattrs), links, devices, whiteouts. */
export function tarSeeds(): Buffer[] {
  const end = Buffer.alloc(1024);
  const long = `${'d'.repeat(120)}/`;
  return [
    Buffer.concat([entry('etc/', 'dir'), entry('etc/hosts', 'file', '127.0.0.1 localhost\n'), entry('bin/', 'dir'), entry('bin/sh', 'symlink', '', { linkpath: '/bin/busybox' }), end]),
    Buffer.concat([entry(long, 'dir'), entry(`${long}${'f'.repeat(150)}`, 'file', 'x'.repeat(700), { xattrs: [['user.a', Buffer.from([0, 1, 2])]] }), end]),
    Buffer.concat([entry('a', 'file', 'hello'), entry('b', 'link', '', { linkpath: 'a' }), entry('dev/', 'dir'), entry('dev/null', 'char', '', { devmajor: 1, devminor: 3 }), end]),
    Buffer.concat([entry('x/', 'dir'), entry('x/.wh..wh..opq', 'file'), entry('.wh.gone', 'file'), entry('big', 'file', 'z'.repeat(3000), { uid: 2 ** 22, gid: 5 }), end]),
  ];
}

const digest = (c: string): string => `sha256:${c.repeat(64)}`;
export const manifestSeed = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, digest: digest('a'), size: 100 },
  layers: [{ mediaType: MediaType.ociLayerGzip, digest: digest('b'), size: 2000, annotations: { x: 'y' } }],
};
export const indexSeed = {
  schemaVersion: 2,
  mediaType: MediaType.ociIndex,
  manifests: [
    { mediaType: MediaType.ociManifest, digest: digest('c'), size: 500, platform: { architecture: 'amd64', os: 'linux' } },
    { mediaType: MediaType.ociManifest, digest: digest('d'), size: 500, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
  ],
};
export const configSeed = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin'], Cmd: ['sh'], User: '0', Labels: { a: 'b' } },
  rootfs: { type: 'layers', diff_ids: [digest('e')] },
  history: [{ created_by: 'x' }],
};

async function consumeTar(bytes: Buffer): Promise<number> {
  let n = 0;
  const chunks = async function* () {
    // Odd chunk sizes: the reader must not assume headers arrive whole.
    for (let off = 0; off < bytes.length; off += 333) yield bytes.subarray(off, off + 333);
  };
  for await (const e of readTar(chunks())) {
    for await (const piece of e.body) n += piece.length;
    n++;
  }
  return n;
}

/**
 * Runs `count` mutated inputs of `target` from `seed`; returns the counts or throws FuzzFailure.
 * `extract` writes into a fresh temp dir per input and checks nothing appeared next to it.
 */
export async function fuzzTarget(target: FuzzTarget, seed: number, count: number): Promise<FuzzCounts> {
  const rand = prng(seed);
  const counts: FuzzCounts = { inputs: 0, accepted: 0, refused: 0 };
  const seeds = tarSeeds();
  const sandbox = target === 'extract' ? await mkdtemp(join(tmpdir(), 'tsbuild-fuzz-')) : undefined;
  try {
    for (let i = 0; i < count; i++) {
      let input: Buffer;
      if (target === 'tar' || target === 'extract') {
        const base = seeds[Math.floor(rand() * seeds.length)]!;
        input = mutateBytes(target === 'extract' && rand() < 0.3 ? gzipSync(base) : base, rand);
      } else {
        const seedJson = target === 'manifest' ? manifestSeed : target === 'index' ? indexSeed : configSeed;
        input = rand() < 0.5 ? Buffer.from(JSON.stringify(mutateJson(seedJson, rand))) : mutateBytes(Buffer.from(JSON.stringify(seedJson)), rand);
      }
      counts.inputs++;
      try {
        await runOne(target, input, sandbox);
        counts.accepted++;
      } catch (err) {
        if (!(err instanceof TsbuildError)) throw new FuzzFailure(target, seed, i, input, err);
        counts.refused++;
      }
    }
  } finally {
    if (sandbox) await rm(sandbox, { recursive: true, force: true });
  }
  return counts;
}

async function runOne(target: FuzzTarget, input: Buffer, sandbox: string | undefined): Promise<void> {
  switch (target) {
    case 'tar':
      await consumeTar(input);
      return;
    case 'extract': {
      const dir = join(sandbox!, 'in', 'dest');
      await rm(join(sandbox!, 'in'), { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const gz = input[0] === 0x1f && input[1] === 0x8b;
      try {
        await extractLayer(Readable.from([input]), gz ? MediaType.ociLayerGzip : MediaType.ociLayerTar, dir, { xattrFlavor: 'user' });
      } finally {
        // Nothing may appear beside the target directory, whatever the layer said.
        const beside = (await readdir(join(sandbox!, 'in'))).filter((n) => n !== 'dest');
        if (beside.length > 0) throw new Error(`extraction wrote outside its directory: ${beside.join(', ')}`);
      }
      return;
    }
    case 'manifest':
      parseManifest(manifestBlobOf(input, MediaType.ociManifest), 'fuzz');
      return;
    case 'index':
      parseIndex(manifestBlobOf(input, MediaType.ociIndex), 'fuzz');
      return;
    case 'config':
      parseConfig(input, 'fuzz');
      return;
  }
}
