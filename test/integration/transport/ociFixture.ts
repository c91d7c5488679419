import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { create } from 'tar';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Fixture {
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  diffId: string;
}

/** Builds by hand a one-layer OCI layout at `dir` (a gzip layer holding hello.txt), tagged `tag`. */
export async function makeOciLayout(dir: string, tag: string, content = 'hello from tsbuild\n'): Promise<Fixture> {
  const work = await mkdtemp(join(tmpdir(), 'tsbuild-fixture-'));
  try {
    await writeFile(join(work, 'hello.txt'), content);
    const layerFile = join(work, '..', `${work.split('/').pop()}.tar.gz`);
    await create({ gzip: true, file: layerFile, cwd: work, portable: true, mtime: new Date(0) }, ['hello.txt']);
    const layer = await readFile(layerFile);
    await rm(layerFile);
    const diffId = sha(gunzipSync(layer));
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created_by: 'test fixture' }],
      }),
    );
    const layerDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length };
    const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layerDesc] }));
    const blobs = join(dir, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    for (const b of [layer, config, manifest]) await writeFile(join(blobs, sha(b).slice(7)), b);
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: sha(manifest),
            size: manifest.length,
            annotations: { 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    );
    return { manifestDigest: sha(manifest), configDigest: configDesc.digest, layerDigest: layerDesc.digest, diffId };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
