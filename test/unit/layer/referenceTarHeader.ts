/**
 * The JS tar header encoder that src/layer/tarHeader.ts was before the encoding moved to
 * native/fsxTar.c, kept as the byte-for-byte oracle for it (tarHeaderNative.test.ts), as
 * test/integration/layer/referenceLayerTar.ts is for the walk.
 */

import type { TarEntryType, TarHeaderFields } from '../../../src/layer/tarHeader.js';

const BLOCK = 512;

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

// Largest values that fit the ustar octal fields (7 and 11 digits).
const MAX_OCTAL7 = 0o7777777;
const MAX_OCTAL11 = 0o77777777777;

/** The bytes of one entry's header: an optional pax extended header, then the ustar header. */
export function referenceTarHeader(h: TarHeaderFields): Buffer {
  const pax: Array<[string, Buffer]> = [];
  // Short ASCII names (nearly all) go into the block as they are, with no Buffer made for them.
  let name: Buffer | string = h.path;
  if (h.path.length > 100 || !isAscii(h.path)) {
    name = Buffer.from(h.path, 'utf8');
    pax.push(['path', name]);
    name = name.subarray(0, 100);
  }
  let link: Buffer | string = h.linkpath ?? '';
  if (link.length > 100 || !isAscii(link)) {
    link = Buffer.from(link, 'utf8');
    pax.push(['linkpath', link]);
    link = link.subarray(0, 100);
  }
  if (h.size > MAX_OCTAL11) pax.push(['size', Buffer.from(String(h.size))]);
  if (h.uid > MAX_OCTAL7) pax.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > MAX_OCTAL7) pax.push(['gid', Buffer.from(String(h.gid))]);
  if (h.mtime < 0 || h.mtime > MAX_OCTAL11) pax.push(['mtime', Buffer.from(String(h.mtime))]);
  if (h.xattrs && h.xattrs.length > 0) {
    const xattrs = [...h.xattrs].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
    for (const [key, value] of xattrs) pax.push([`SCHILY.xattr.${key}`, value]);
  }

  const main = ustarBlock({
    name,
    mode: h.mode & 0o7777,
    uid: h.uid > MAX_OCTAL7 ? 0 : h.uid,
    gid: h.gid > MAX_OCTAL7 ? 0 : h.gid,
    size: h.type === 'file' && h.size <= MAX_OCTAL11 ? h.size : 0,
    mtime: h.mtime < 0 || h.mtime > MAX_OCTAL11 ? 0 : h.mtime,
    typeflag: TYPEFLAG[h.type],
    linkname: link,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (pax.length === 0) return main;

  pax.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
  const paxHeader = ustarBlock({
    name: paxHeaderName(h.path).slice(0, 100),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length)), main]);
}

function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** "<len> <key>=<value>\n", where <len> counts the whole record including its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

// As Go's archive/tar names them; only cosmetic, but stable.
function paxHeaderName(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  const slash = trimmed.lastIndexOf('/');
  const dir = slash < 0 ? '.' : trimmed.slice(0, slash);
  const base = slash < 0 ? trimmed : trimmed.slice(slash + 1);
  return `${dir}/PaxHeaders.0/${base}`.replace(/[^\x20-\x7e]/g, '_');
}

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

interface RawFields {
  /** At most 100 bytes; a string is ASCII. */
  name: Buffer | string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer | string;
  devmajor: number;
  devminor: number;
}

// The bytes every header shares: checksum field as spaces (it is computed that way), the magic.
const TEMPLATE = Buffer.alloc(BLOCK);
TEMPLATE.fill(0x20, 148, 156);
TEMPLATE.write('ustar\u000000', 257, 'latin1');

function ustarBlock(f: RawFields): Buffer {
  const b = Buffer.allocUnsafe(BLOCK);
  TEMPLATE.copy(b, 0);
  if (typeof f.name === 'string') b.write(f.name, 0, 'latin1');
  else f.name.copy(b, 0);
  octal(b, 100, 8, f.mode);
  octal(b, 108, 8, f.uid);
  octal(b, 116, 8, f.gid);
  octal(b, 124, 12, f.size);
  octal(b, 136, 12, f.mtime);
  b[156] = f.typeflag.charCodeAt(0);
  if (typeof f.linkname === 'string') b.write(f.linkname, 157, 'latin1');
  else f.linkname.copy(b, 157);
  // uname (265) and gname (297) stay empty: numeric ids only.
  octal(b, 329, 8, f.devmajor);
  octal(b, 337, 8, f.devminor);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return b;
}

/** Zero-padded octal, NUL-terminated, filling the field (values are checked to fit by the caller). */
function octal(b: Buffer, off: number, len: number, value: number): void {
  let v = Math.trunc(value);
  b[off + len - 1] = 0;
  for (let i = off + len - 2; i >= off; i--) {
    b[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
}
