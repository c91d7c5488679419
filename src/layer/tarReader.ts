import { TsbuildError } from '../errors.js';
import { BLOCK, padding, type TarEntryType } from './tarHeader.js';

export interface TarEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds, possibly fractional (pax). */
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  xattrs: Array<[string, Buffer]>;
  /** The entry's data; must be consumed (or abandoned) before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

// Metadata entries (pax, GNU long names) are buffered in memory; a bigger one is hostile.
const MAX_META = 1 << 20;

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

function invalid(detail: string): TsbuildError {
  return new TsbuildError('LAYER_INVALID', `reading layer tar: ${detail}`, {
    hint: 'the layer blob is corrupt or not a tar archive',
  });
}

/** Pulls exact byte counts out of a chunk stream. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  private ended = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.it.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? next.value : Buffer.concat([this.buf, next.value]);
    return true;
  }

  /** Exactly n bytes, or null at a clean end of input (nothing buffered). */
  async exact(n: number): Promise<Buffer | null> {
    while (this.buf.length < n) {
      if (!(await this.fill())) {
        if (this.buf.length === 0) return null;
        throw invalid('unexpected end of archive');
      }
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Yields n bytes in whatever pieces arrive. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill())) throw invalid('unexpected end of archive');
      const take = Math.min(left, this.buf.length);
      const piece = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
      yield piece;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) {
      // discard
    }
  }

  /** Consumes everything left (so the caller's hash covers the whole stream). */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.fill()) this.buf = Buffer.alloc(0);
  }
}

/**
 * Reads tar entries (ustar, pax incl. global headers, GNU long names, GNU base-256 numbers) from
 * a stream of uncompressed bytes. Consumes the input to its end, so a hash taken upstream covers
 * all of it. Corrupt input throws LAYER_INVALID.
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  let global: Map<string, Buffer> = new Map();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;

  for (;;) {
    const block = await r.exact(BLOCK);
    if (block === null) return; // EOF without end blocks: accepted, as Go's archive/tar does
    if (isZero(block)) {
      await r.drain();
      return;
    }
    verifyChecksum(block);
    const typeflag = String.fromCharCode(block[156]!);
    const size = numeric(block, 124, 12);
    const type = TYPES[typeflag];
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_META) throw invalid(`metadata entry of ${size} bytes`);
      const data = (await r.exact(size + padding(size))) ?? Buffer.alloc(0);
      if (data.length < size) throw invalid('unexpected end of archive');
      const body = data.subarray(0, size);
      if (typeflag === 'x') pax = parsePax(body);
      else if (typeflag === 'g') global = new Map([...global, ...parsePax(body)]);
      else if (typeflag === 'L') longName = cstring(body);
      else longLink = cstring(body);
      continue;
    }
    const records = new Map([...global, ...(pax ?? [])]);
    // An empty pax value deletes the key (POSIX), so it falls back to the ustar field.
    const paxStr = (key: string): string | undefined => {
      const v = records.get(key);
      return v && v.length > 0 ? v.toString('utf8') : undefined;
    };
    const magic = block.toString('latin1', 257, 263);
    const prefix = magic === 'ustar\0' ? cstring(block.subarray(345, 500)) : '';
    const rawName = cstring(block.subarray(0, 100));
    const path = paxStr('path') ?? longName ?? (prefix ? `${prefix}/${rawName}` : rawName);
    const entrySize = paxNumber(paxStr('size')) ?? size;
    pax = undefined;
    longName = undefined;
    const linkpath = paxStr('linkpath') ?? longLink ?? cstring(block.subarray(157, 257));
    longLink = undefined;

    if (type === undefined) {
      if (typeflag === 'S' || records.has('GNU.sparse.major') || records.has('GNU.sparse.size')) {
        throw invalid(`${path}: sparse files are not supported`);
      }
      // Unknown vendor entry types are skipped, as other extractors do.
      await r.skip(entrySize + padding(entrySize));
      continue;
    }
    const xattrs: Array<[string, Buffer]> = [];
    for (const [key, value] of records) {
      if (key.startsWith('SCHILY.xattr.')) xattrs.push([key.slice('SCHILY.xattr.'.length), value]);
    }
    // Only regular files carry data; other types' size fields are ignored, as in Go's archive/tar.
    const dataSize = type === 'file' ? entrySize : 0;
    let consumed = false;
    const body = (async function* () {
      consumed = true;
      yield* r.stream(dataSize);
    })();
    yield {
      path,
      type,
      mode: numeric(block, 100, 8),
      uid: paxNumber(paxStr('uid')) ?? numeric(block, 108, 8),
      gid: paxNumber(paxStr('gid')) ?? numeric(block, 116, 8),
      size: type === 'file' ? entrySize : 0,
      mtime: paxFloat(paxStr('mtime')) ?? numeric(block, 136, 12),
      linkpath,
      devmajor: numeric(block, 329, 8),
      devminor: numeric(block, 337, 8),
      xattrs,
      body: type === 'file' ? body : emptyBody(),
    };
    // Whatever the consumer left unread is skipped here.
    if (!consumed) await r.skip(dataSize);
    else await drainIter(body);
    await r.skip(padding(dataSize));
  }
}

async function* emptyBody(): AsyncGenerator<Buffer> {
  // no data
}

async function drainIter(it: AsyncGenerator<Buffer>): Promise<void> {
  for (;;) {
    const next = await it.next();
    if (next.done) return;
  }
}

function isZero(b: Buffer): boolean {
  for (const byte of b) if (byte !== 0) return false;
  return true;
}

function verifyChecksum(block: Buffer): void {
  const stored = numeric(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw invalid('header checksum mismatch');
}

function cstring(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

/** Octal (NUL/space padded) or GNU base-256 (high bit set). */
function numeric(block: Buffer, off: number, len: number): number {
  const field = block.subarray(off, off + len);
  if (field[0]! & 0x80) {
    if (field[0] === 0xff) throw invalid('negative base-256 number');
    let value = field[0]! & 0x7f;
    for (let i = 1; i < len; i++) value = value * 256 + field[i]!;
    if (!Number.isSafeInteger(value)) throw invalid('number out of range');
    return value;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw invalid(`bad numeric field ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function paxNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value)) throw invalid(`bad pax number ${JSON.stringify(value)}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalid('pax number out of range');
  return n;
}

function paxFloat(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?[0-9]+(\.[0-9]*)?$/.test(value)) throw invalid(`bad pax time ${JSON.stringify(value)}`);
  return Number(value);
}

/** "<len> <key>=<value>\n" records; values are raw bytes (xattrs may be binary). */
function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < body.length) {
    if (body[off] === 0) break; // some writers pad with NULs
    const space = body.indexOf(0x20, off);
    if (space < 0) throw invalid('bad pax record');
    const len = Number(body.toString('latin1', off, space));
    if (!Number.isInteger(len) || len <= 0 || off + len > body.length || body[off + len - 1] !== 0x0a) {
      throw invalid('bad pax record length');
    }
    const record = body.subarray(space + 1, off + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw invalid('bad pax record');
    const key = record.toString('utf8', 0, eq);
    const value = Buffer.from(record.subarray(eq + 1));
    out.set(key, value);
    off += len;
  }
  return out;
}
