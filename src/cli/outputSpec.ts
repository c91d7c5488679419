/**
 * `-o/--output` as buildx spells it: `type=oci,dest=out.tar`, `type=oci,dest=dir,tar=false`,
 * `type=docker,dest=img.tar`, `type=tar,dest=fs.tar`, `type=local,dest=dir`,
 * `type=registry[,name=a,name=b]` (or `type=image,push=true`), each image output with optional
 * `compression=gzip|zstd`, `compression-level=N`, `oci-mediatypes=true|false`.
 */
import { TsbuildError } from '../errors.js';

import type { ImageEncoding, OutputSpec } from '../transport/outputTypes.js';

export type { ImageEncoding, OutputSpec };

const HINT = 'e.g. -o type=oci,dest=out.tar | type=docker,dest=img.tar | type=local,dest=DIR | type=tar,dest=fs.tar | type=registry';

function usage(text: string, detail: string): TsbuildError {
  return new TsbuildError('USAGE', `invalid --output ${JSON.stringify(text)}: ${detail}`, { hint: HINT });
}

function bool(text: string, key: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw usage(text, `${key}=${value}: expected true or false`);
}

function encoding(text: string, fields: Map<string, string[]>): ImageEncoding {
  const out: ImageEncoding = {};
  const compression = fields.get('compression')?.at(-1);
  if (compression !== undefined) {
    if (compression === 'uncompressed' || compression === 'estargz') throw usage(text, `compression=${compression} is not supported (use gzip or zstd)`);
    if (compression !== 'gzip' && compression !== 'zstd') throw usage(text, `compression=${compression}: expected gzip or zstd`);
    out.compression = compression;
  }
  const level = fields.get('compression-level')?.at(-1);
  if (level !== undefined) {
    const n = Number(level);
    const max = (out.compression ?? 'gzip') === 'gzip' ? 9 : 22;
    if (!/^\d+$/.test(level) || n > max) throw usage(text, `compression-level=${level}: expected 0-${max} for ${out.compression ?? 'gzip'}`);
    out.compressionLevel = n;
  }
  const oci = bool(text, 'oci-mediatypes', fields.get('oci-mediatypes')?.at(-1));
  if (oci !== undefined) out.ociMediaTypes = oci;
  return out;
}

export function parseOutputSpec(text: string): OutputSpec {
  const fields = new Map<string, string[]>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      // buildx's shorthand: `-o DIR` is type=local,dest=DIR.
      if (!text.includes(',') && !text.includes('=')) return { type: 'local', dest: text };
      throw usage(text, 'expected key=value pairs');
    }
    const key = part.slice(0, eq).trim().toLowerCase();
    fields.set(key, [...(fields.get(key) ?? []), part.slice(eq + 1).trim()]);
  }
  const one = (key: string): string | undefined => fields.get(key)?.at(-1);
  const type = one('type');
  const dest = one('dest');
  switch (type) {
    case 'oci':
    case 'docker': {
      if (!dest) throw usage(text, `type=${type} needs dest=PATH`);
      const tar = bool(text, 'tar', one('tar')) ?? true;
      if (type === 'docker' && !tar) throw usage(text, 'type=docker writes a tar archive (docker load format); use type=oci,tar=false for a directory');
      return { type, dest, tar, ...encoding(text, fields) };
    }
    case 'tar':
    case 'local':
      if (!dest) throw usage(text, `type=${type} needs dest=PATH`);
      return { type, dest };
    case 'registry':
    case 'image': {
      const push = type === 'registry' || bool(text, 'push', one('push')) === true;
      if (!push) throw usage(text, 'type=image without push=true only names the image in the store, which every build does; add push=true');
      const names = (fields.get('name') ?? []).flatMap((n) => n.split(/\s+/)).filter(Boolean);
      return { type: 'registry', names, ...encoding(text, fields) };
    }
    default:
      throw usage(text, `type=${type ?? '(missing)'} is not supported`);
  }
}
