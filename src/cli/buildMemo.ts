/**
 * The build record: how a rebuild with nothing changed answers without building. After a
 * successful build, `tsbuild build` (started from its start-up snapshot) writes
 * ROOT/cache/memo/<key>.json: what the build read, what its image is, and what a rebuild served
 * whole by the cache shows. The key is the whole invocation: the snapshot it runs from, node, uid,
 * the working directory, the argv, the entire environment and which of stdin/stdout/stderr are
 * terminals. The next invocation with the same key checks each input against the record before
 * a flag is parsed:
 *
 * - by content (sha256, as the build read it): the Dockerfile, the config file (or its absence),
 *   each named context's `oci-layout` and `index.json`, and the cache entries the steps were
 *   served from or made (cache/keys/*.json: a prune or a --no-cache rebuild changes them);
 * - the store's tags the build read (FROM an image in the store) and wrote (-t), each still
 *   naming the same manifest; the image's manifest and config blobs still there and intact (read
 *   whole here, so that once the answer starts printing nothing can fail);
 * - the build context as the cache reads it: every source list a step's key hashed is hashed
 *   again by the same code (cache/contextHasher.ts, .dockerignore read again), digests equal.
 *
 * All equal: the recorded events are shown (every step CACHED, as the cache would serve it; the
 * base image's metadata reads are not repeated), then the summary and the image ID. Any
 * difference or error is a miss and the build runs as always. Nothing is trusted by timestamp
 * here (the context hasher keeps git's racily-clean rule for its own stat cache).
 *
 * Only builds whose one output is the store are recorded (memoEligible), and only when the same
 * build again would make the same image (BuildResult.stable) without contacting a registry.
 */
import { lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BuildInputObserver } from '../cache/buildInputObserver.js';
import type { ProgressEvent, ProgressSink } from '../build/progress.js';
import { buildRecordsDir } from '../cache/cacheGc.js';
import { digestOf, sha256Hex } from '../cache/canonicalJson.js';
import { ContextHasher, statCachePath } from '../cache/contextHasher.js';
import { loadDockerignore } from '../context/dockerignore.js';
import { contextKind } from '../context/openBuildContext.js';
import { TsbuildError } from '../errors.js';
import { ContentStore } from '../store/contentStore.js';
import { ImageStore } from '../store/imageStore.js';
import { defaultStoreRoot } from '../store/storeRoot.js';
import { sha256Digest } from '../transport/digestStream.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import type { BuildFlags } from './buildFlags.js';
import { BuildReporter, type FinishedBuild } from './buildReporter.js';
import { createProgressDisplay, type ProgressMode } from './progressMode.js';

/** What makes two invocations the same build request. */
export interface MemoIdentity {
  /** The code that runs: the start-up snapshot's path and stat (dev:ino:size:mtime ns). */
  code: string;
  argv: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  uid: number;
  /** Which of stdin, stdout, stderr are terminals (`--progress auto` depends on it). */
  ttys: string;
}

interface ContextRead {
  sources: string[];
  /** digestOf the path → digest map the read gave: one line however many files it covered. */
  digest: string;
}

/** A source path's lstat as the record saw it (ino:size:mtime ns:ctime ns), null where it did not exist. */
type QuickSig = string | null;

export interface BuildMemoRecord {
  version: 1;
  key: string;
  mode: ProgressMode;
  contextDir: string;
  dockerfilePath: string;
  /** Absolute path → sha256 hex of its content as the build read it, or null: it did not exist. */
  files: Record<string, string | null>;
  /** Store tag → the manifest digest it named (null: no such tag), read or written by the build. */
  images: Record<string, string | null>;
  /** Blob digests that must still be in the store. */
  blobs: string[];
  contextReads: ContextRead[];
  /**
   * The lstat of each context read's plain (glob-free) source, taken when the record was written:
   * a source that now stats differently is a miss without hashing anything (the common rebuild
   * after an edit). Equal is not trusted: the reads are hashed again.
   */
  quick: Record<string, QuickSig>;
  /** What a rebuild served whole by the cache shows, times left out. */
  events: ProgressEvent[];
  result: FinishedBuild;
  stdout: string;
}

/** The record's name: sha256 over everything in `id`. Pure. */
export function memoKey(id: MemoIdentity): string {
  const env = Object.entries(id.env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sha256Hex(JSON.stringify({ v: 1, code: id.code, node: process.version, arch: process.arch, uid: id.uid, cwd: id.cwd, argv: id.argv, env, ttys: id.ttys }));
}

/**
 * Where the record of `argv` is: under the store --root names, else $TSBUILD_ROOT's or the
 * default store (a root from the config file gets no record). This only places the file; the
 * key decides a hit.
 */
export function memoPath(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string, key: string): string {
  return memoFileIn(memoStoreRoot(argv, env, cwd), key);
}

/** The store memoPath places records in. */
function memoStoreRoot(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): string {
  let root: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (arg === '--root' && i + 1 < argv.length) root = argv[++i];
    else if (arg.startsWith('--root=')) root = arg.slice('--root='.length);
  }
  return resolve(cwd, root ?? defaultStoreRoot(env));
}

function memoFileIn(root: string, key: string): string {
  return join(buildRecordsDir(root), `${key}.json`);
}

/** Records kept per store: each environment a build runs in has its own (CI jobs differ in it). */
const MAX_RECORDS = 64;

/** Whether a build with these flags may be recorded: its one output is the store. Pure. */
export function memoEligible(flags: BuildFlags, contextSpec: string, contextDir: string): boolean {
  return (
    !flags.check &&
    flags.output.length === 0 &&
    !flags.push &&
    flags.destination.length === 0 &&
    flags.iidfile === undefined &&
    flags['metadata-file'] === undefined &&
    flags['cache-to'].length === 0 &&
    flags['cache-from'].length === 0 &&
    flags.secret.length === 0 &&
    flags.ssh.length === 0 &&
    !flags.pull &&
    flags.cache &&
    flags['no-cache-filter'].length === 0 &&
    !flags['explain-cache'] &&
    flags.memory === undefined &&
    flags.cpus === undefined &&
    flags['pids-limit'] === undefined &&
    flags.file !== '-' &&
    // A local directory, not a tar unpacked into a temp dir, stdin, a URL or a git remote.
    contextKind(contextSpec) === 'local' &&
    contextDir === resolve(contextSpec)
  );
}

/** Collects, while a build runs, what its record needs. */
export class BuildMemoRecorder implements ProgressSink, BuildInputObserver {
  readonly #identity: MemoIdentity;
  readonly #events: ProgressEvent[] = [];
  /** As the cache read them; digested only when a record is written. */
  readonly #contextReads: Array<{ sources: readonly string[]; digests: Record<string, string> }> = [];
  readonly #files = new Map<string, string | null>();
  readonly #images = new Map<string, string | null>();
  /** A noted file could not be read: no record. */
  #unreadable = false;

  constructor(identity: MemoIdentity) {
    this.#identity = identity;
  }

  /**
   * Events as a rebuild served whole by the cache shows them: a step that ran ends CACHED; every
   * step takes 0 s; output, layers and bytes moved (the base's too) are not shown again.
   */
  emit(event: ProgressEvent): void {
    if (event.type === 'step-log' || event.type === 'layer' || event.type === 'transfer') return;
    if (event.type === 'step-end') {
      const { cacheReason: _reason, ...rest } = event;
      this.#events.push({ ...rest, time: 0, durationMs: 0, cached: rest.cached || !isFromStep(event.step.name) });
      return;
    }
    this.#events.push({ ...event, time: 0 });
  }

  contextRead(sources: readonly string[], digests: Record<string, string>): void {
    this.#contextReads.push({ sources, digests });
  }

  storeImage(name: string, digest: string | undefined): void {
    // The first answer is what the build used.
    if (!this.#images.has(name)) this.#images.set(name, digest ?? null);
  }

  /** A file the build is about to read (read here first: a change after this is a miss). */
  noteFile(path: string): void {
    try {
      this.#files.set(path, contentDigest(path));
    } catch {
      this.#unreadable = true;
    }
  }

  /** A file as the build read it. */
  noteText(path: string, text: string): void {
    this.#files.set(path, sha256Hex(text));
  }

  /**
   * Writes the record of the finished build, unless the same build again could differ from it.
   * Never fails the build: the record is only ever a shortcut.
   */
  async save(opts: {
    storeRoot: string;
    mode: ProgressMode;
    contextDir: string;
    dockerfilePath: string;
    result: FinishedBuild & { stable: boolean };
    /** The cache entries the steps were served from or made, with their index files. */
    cacheEntries: ReadonlyArray<{ path: string; entry: unknown }>;
    stdout: string;
  }): Promise<void> {
    try {
      if (!opts.result.stable || this.#unreadable) return;
      const images = new Map(this.#images);
      for (const tag of opts.result.tags) {
        // FROM app:1 … -t app:1: the next build's base would be this image.
        if (images.has(tag) && images.get(tag) !== opts.result.manifest.digest) return;
        images.set(tag, opts.result.manifest.digest);
      }
      // Only where the same invocation will look for it (a root from the config file: nowhere).
      if (memoStoreRoot(this.#identity.argv, this.#identity.env, this.#identity.cwd) !== resolve(opts.storeRoot)) return;
      const key = memoKey(this.#identity);
      const path = memoFileIn(resolve(opts.storeRoot), key);
      const files = new Map(this.#files);
      for (const { path: file, entry } of opts.cacheEntries) files.set(file, sha256Hex(JSON.stringify(entry)));
      const record: BuildMemoRecord = {
        version: 1,
        key,
        mode: opts.mode,
        contextDir: opts.contextDir,
        dockerfilePath: opts.dockerfilePath,
        files: Object.fromEntries(files),
        images: Object.fromEntries(images),
        blobs: [opts.result.manifest.digest, opts.result.config.digest],
        contextReads: this.#contextReads.map((read) => ({ sources: [...read.sources], digest: digestOf(read.digests) })),
        quick: quickSigs(opts.contextDir, this.#contextReads),
        events: this.#events,
        result: { manifest: { digest: opts.result.manifest.digest }, config: { digest: opts.result.config.digest }, tags: [...opts.result.tags] },
        stdout: opts.stdout,
      };
      const dir = buildRecordsDir(resolve(opts.storeRoot));
      mkdirSync(dir, { recursive: true });
      // Not fsync'd: a record lost or cut short by a crash is a miss.
      await writeFileAtomic(path, JSON.stringify(record), undefined, { durable: false });
      dropOldRecords(dir);
    } catch {
      // A store we cannot write to just has no record.
    }
  }
}

/** Keeps the newest MAX_RECORDS records in `dir`. */
export function dropOldRecords(dir: string): void {
  const names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  if (names.length <= MAX_RECORDS) return;
  const aged = names.map((n) => ({ path: join(dir, n), mtime: statSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs ?? 0 }));
  aged.sort((a, b) => b.mtime - a.mtime);
  for (const { path } of aged.slice(MAX_RECORDS)) rmSync(path, { force: true });
}

/** lstat signatures of the reads' glob-free sources, by path under `contextDir`. */
function quickSigs(contextDir: string, reads: ReadonlyArray<{ sources: readonly string[] }>): Record<string, QuickSig> {
  const out: Record<string, QuickSig> = {};
  for (const read of reads) for (const source of read.sources) if (!/[*?[\\]/.test(source)) out[source] = quickSig(join(contextDir, source));
  return out;
}

function quickSig(path: string): QuickSig {
  const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return st ? `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : null;
}

/** A FROM step's end is never "cached" (it resolves the base every time). */
function isFromStep(name: string): boolean {
  return /^\[[^\]]*\] FROM /.test(name);
}

/** sha256 hex of a file's content, or null if it does not exist. Throws on any other error. */
function contentDigest(path: string): string | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
  return sha256Hex(bytes);
}

/**
 * Answers the invocation from its record when every input is unchanged: shows the recorded
 * events and the summary, prints the image ID and returns true. Returns false, having printed
 * nothing, on any difference or error; the caller then builds.
 */
export async function answerFromMemo(identity: MemoIdentity, out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WriteStream }): Promise<boolean> {
  const storeRoot = memoStoreRoot(identity.argv, identity.env, identity.cwd);
  const key = memoKey(identity);
  const path = memoFileIn(storeRoot, key);
  let record: BuildMemoRecord;
  let blobs: Map<string, Buffer> | undefined;
  try {
    record = JSON.parse(readFileSync(path, 'utf8')) as BuildMemoRecord;
    if (record.version !== 1 || record.key !== key) return false;
    // An edited context file is the usual miss: seen by one lstat, before anything is hashed.
    for (const [source, sig] of Object.entries(record.quick ?? {})) if (quickSig(join(record.contextDir, source)) !== sig) return false;
    blobs = await inputsUnchanged(record, storeRoot);
    if (!blobs) return false;
  } catch {
    return false;
  }
  // Everything the answer shows is in memory now: once it starts printing, nothing can fail.
  const reporter = new BuildReporter(record.mode, createProgressDisplay(record.mode, out.stderr, identity.env), out.stderr);
  const now = Date.now();
  for (const event of record.events) reporter.progress.emit({ ...event, time: now });
  const held = blobs;
  const content = {
    readBytes: async (digest: string): Promise<Buffer> => {
      const bytes = held.get(digest);
      if (!bytes) throw new TsbuildError('INTERNAL', `a build answered from its record has no blob ${digest}`);
      return bytes;
    },
  };
  const noLayers = (): never => {
    throw new TsbuildError('INTERNAL', 'a build answered from its record made no layers');
  };
  await reporter.finish(record.result, { content, layerDir: noLayers });
  out.stdout.write(record.stdout);
  return true;
}

/** The record's blobs (the image's manifest and config, read whole) when every input is unchanged; undefined otherwise. */
async function inputsUnchanged(record: BuildMemoRecord, storeRoot: string): Promise<Map<string, Buffer> | undefined> {
  for (const [file, digest] of Object.entries(record.files)) if (contentDigest(file) !== digest) return undefined;
  const content = new ContentStore(storeRoot);
  const blobs = new Map<string, Buffer>();
  for (const digest of record.blobs) {
    const bytes = readFileSync(content.blobPath(digest));
    if (sha256Digest(bytes) !== digest) return undefined;
    blobs.set(digest, bytes);
  }
  const tagged = new Map((await new ImageStore(storeRoot).list()).map((t) => [t.name, t.descriptor.digest]));
  for (const [name, digest] of Object.entries(record.images)) if ((tagged.get(name) ?? null) !== digest) return undefined;
  if (record.contextReads.length === 0) return blobs;
  const ignore = await loadDockerignore(record.contextDir, record.dockerfilePath);
  const hasher = new ContextHasher(statCachePath(storeRoot));
  const signal = new AbortController().signal;
  for (const read of record.contextReads) {
    if (digestOf(await hasher.hash(record.contextDir, read.sources, signal, ignore.filter)) !== read.digest) return undefined;
  }
  return blobs;
}

