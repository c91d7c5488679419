import { lstat, readFile, readdir, rm } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import pLimit from 'p-limit';
import { TsbuildError } from '../errors.js';
import { isIndexMediaType } from '../image/mediaTypes.js';
import { ContentStore } from './contentStore.js';
import { digestFromHex, isDigest } from './digest.js';
import { pidAlive } from '../util/pidAlive.js';

/**
 * `damage`: the store lost or holds wrong data (a tag can't be used as it is); exit 1.
 * `leftover`: what a killed process leaves behind (temp files, stale locks, half-installed layer
 * dirs); harmless to readers, removed by --repair.
 */
export type FsckSeverity = 'damage' | 'leftover';

export interface FsckProblem {
  severity: FsckSeverity;
  path: string;
  detail: string;
  /** Set when --repair removed it. */
  repaired: boolean;
}

export interface FsckReport {
  root: string;
  blobs: number;
  tags: number;
  cacheEntries: number;
  layers: number;
  /** Blobs no tag reaches: the build cache's business (`tsbuild cache prune`), not a problem. */
  unreferencedBlobs: number;
  problems: FsckProblem[];
  /** No damage left (leftovers that were not repaired don't make a store inconsistent). */
  consistent: boolean;
}

export interface FsckOptions {
  repair?: boolean;
  signal?: AbortSignal;
  /** Hashing runs this many blobs at once. */
  concurrency?: number;
  /** Injected for tests; default: signal 0 (EPERM counts as alive). */
  pidAlive?: (pid: number) => boolean;
  /** Where to look for leaked mounts; default /proc/self/mounts. */
  mountsFile?: string;
  /** Entries in tmp/ that name no pid are left alone until this old (ms); default one hour. */
  unownedGraceMs?: number;
}

// tmp/ entries made by tsbuild carry the pid of their maker: blob-<pid>-…, snap-<pid>-…,
// layer-<pid>-…, view-<pid>-…, store.json.<pid>.…; atomic writes next to a file: .<name>.<pid>.<hex>.tmp
const TMP_OWNER = /^(?:blob|snap|layer|view|store\.json)[-.](\d+)[-.]/;
const ATOMIC_TMP = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/;
const STALE_LOCK_ASIDE = /\.lock\.stale\.(\d+)\.[0-9a-f]+$/;

/**
 * Checks a store the way a reader relies on it: every blob hashes to its name, every tag reaches
 * a manifest, its config and its layers (present, verified, sizes as described), layer dirs are
 * complete, no mount of the store is visible on the host. With `repair`, removes corrupt blobs
 * and what dead processes left behind; it never removes a tag or a blob a tag needs that is
 * intact, and never touches what a live process owns.
 */
export async function fsckStore(root: string, opts: FsckOptions = {}): Promise<FsckReport> {
  const repair = opts.repair ?? false;
  const alive = opts.pidAlive ?? pidAlive;
  const signal = opts.signal;
  const problems: FsckProblem[] = [];
  const report = (severity: FsckSeverity, path: string, detail: string): FsckProblem => {
    const p: FsckProblem = { severity, path, detail, repaired: false };
    problems.push(p);
    return p;
  };
  const removeIfRepair = async (p: FsckProblem): Promise<void> => {
    if (!repair) return;
    await rm(p.path, { recursive: true, force: true });
    p.repaired = true;
  };

  if (!(await isDir(root))) {
    throw new TsbuildError('USAGE', `checking store ${root}: no such directory`, { hint: 'pass the store with --root or TSBUILD_ROOT' });
  }
  const content = new ContentStore(root);

  // 1. Blobs: hash every one. A blob is the unit readers trust, so a wrong one is damage.
  const good = new Set<string>();
  const blobNames = await listDir(content.blobsDir);
  const limit = pLimit(opts.concurrency ?? 2);
  await Promise.all(
    blobNames.map((name) =>
      limit(async () => {
        signal?.throwIfAborted();
        const path = join(content.blobsDir, name);
        if (!/^[0-9a-f]{64}$/.test(name)) {
          await removeIfRepair(report('leftover', path, 'stray file in blobs/sha256 (not a digest name)'));
          return;
        }
        const digest = digestFromHex(name);
        if (await content.verify(digest, signal)) good.add(digest);
        else await removeIfRepair(report('damage', path, `corrupt blob: content does not hash to ${digest}`));
      }),
    ),
  );

  // A build running alongside writes a blob before the tag or cache entry naming it: a blob that
  // was not there when the blobs were listed is hashed when something turns out to need it.
  const lateChecked = new Set<string>();
  const isGood = async (digest: string): Promise<boolean> => {
    if (good.has(digest)) return true;
    if (lateChecked.has(digest)) return false;
    lateChecked.add(digest);
    if (!(await content.verify(digest, signal))) return false;
    good.add(digest);
    return true;
  };

  // 2. Tags: everything a tag reaches must be present and intact.
  const referenced = new Set<string>();
  let tags = 0;
  const imagesPath = join(root, 'images.json');
  const images = await readJson(imagesPath);
  if (images.error) {
    report('damage', imagesPath, `unreadable tag file: ${images.error}`);
  } else if (images.value !== undefined) {
    const entries = (images.value as { images?: Record<string, unknown> }).images;
    if (!entries || typeof entries !== 'object') {
      report('damage', imagesPath, 'tag file has no "images" object');
    } else {
      for (const [name, desc] of Object.entries(entries)) {
        tags++;
        const failures = await checkReachable(content, desc, isGood, referenced, 0);
        for (const f of failures) report('damage', imagesPath, `tag ${name}: ${f}`);
      }
    }
  }

  // 2b. Build cache entries (cache/keys/*.json, src/cache): a hit reuses the entry's layer blob,
  // so one whose blob is gone is damage; it is only an optimisation, so --repair drops it.
  let cacheEntries = 0;
  const keysDir = join(root, 'cache', 'keys');
  for (const name of await listDir(keysDir)) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const path = join(keysDir, name);
    const entry = await readJson(path);
    const layer = (entry.value as { layer?: { descriptor?: { digest?: unknown } } } | undefined)?.layer;
    const digest = layer?.descriptor?.digest;
    cacheEntries++;
    if (entry.error) await removeIfRepair(report('damage', path, `unreadable cache entry: ${entry.error}`));
    else if (typeof digest === 'string') {
      referenced.add(digest);
      if (!(await isGood(digest))) await removeIfRepair(report('damage', path, `cache entry's layer ${digest} is missing or corrupt`));
    }
  }

  // 3. Layer dirs: `layers/<hex>/fs` appears by rename; a dir without it is a crash's leftover.
  let layers = 0;
  const layersDir = join(root, 'layers');
  for (const name of await listDir(layersDir)) {
    const dir = join(layersDir, name);
    if (!/^[0-9a-f]{64}$/.test(name)) {
      await removeIfRepair(report('leftover', dir, 'stray entry in layers/ (not a diffID)'));
      continue;
    }
    const inside = await listDir(dir);
    if (inside.includes('fs') && (await isDir(join(dir, 'fs')))) {
      layers++;
      for (const extra of inside.filter((n) => n !== 'fs')) {
        await removeIfRepair(report('leftover', join(dir, extra), 'stray entry next to a layer fs dir'));
      }
    } else {
      await removeIfRepair(report('leftover', dir, 'layer dir without fs (a layer install was interrupted)'));
    }
  }

  // 4. tmp/: owned by a pid; the dead ones' entries are leftovers.
  const tmpDir = join(root, 'tmp');
  const grace = opts.unownedGraceMs ?? 3_600_000;
  for (const name of await listDir(tmpDir)) {
    const path = join(tmpDir, name);
    const owner = TMP_OWNER.exec(name)?.[1];
    if (owner !== undefined) {
      if (!alive(Number(owner))) await removeIfRepair(report('leftover', path, `temp entry of dead process ${owner}`));
      continue;
    }
    const st = await lstat(path).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > grace) {
      await removeIfRepair(report('leftover', path, 'temp entry of unknown owner, older than an hour'));
    }
  }

  // 5. Lock files and atomic-write temps next to the store's own files (root and its metadata dirs).
  for (const dir of [root, ...(await metadataDirs(root))]) {
    for (const name of await listDir(dir)) {
      const path = join(dir, name);
      const atomic = ATOMIC_TMP.exec(name)?.[1] ?? STALE_LOCK_ASIDE.exec(name)?.[1];
      if (atomic !== undefined) {
        if (!alive(Number(atomic))) await removeIfRepair(report('leftover', path, `temp file of dead process ${atomic}`));
        continue;
      }
      if (name.endsWith('.lock')) {
        const holder = Number.parseInt((await readFile(path, 'utf8').catch(() => '')).split(' ')[0] ?? '', 10);
        if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
          await removeIfRepair(report('leftover', path, `lock held by dead process ${holder}`));
        }
      }
    }
  }

  // 6. Mounts: builds mount only inside their private mount namespace, which dies with them, so
  // none can show here; one that does was made by hand or by another tool, and is reported.
  const mounts = await readFile(opts.mountsFile ?? '/proc/self/mounts', 'utf8').catch(() => '');
  const prefix = resolve(root) + sep;
  for (const line of mounts.split('\n')) {
    const target = line.split(' ')[1];
    if (target === undefined) continue;
    const path = target.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path.startsWith(prefix)) report('damage', path, 'mounted on the host (unmount it: umount -l PATH)');
  }

  return {
    root,
    blobs: blobNames.length,
    tags,
    cacheEntries,
    layers,
    unreferencedBlobs: [...good].filter((d) => !referenced.has(d)).length,
    problems,
    consistent: !problems.some((p) => p.severity === 'damage' && !p.repaired),
  };
}

const MAX_DEPTH = 3;

/** Why `desc` (a tag's descriptor) can't be used as it is; empty when it can. */
async function checkReachable(
  content: ContentStore,
  desc: unknown,
  isGood: (digest: string) => Promise<boolean>,
  referenced: Set<string>,
  depth: number,
): Promise<string[]> {
  const d = desc as { digest?: unknown; size?: unknown; mediaType?: unknown } | null;
  if (!d || typeof d.digest !== 'string' || !isDigest(d.digest) || typeof d.size !== 'number') {
    return [`invalid descriptor ${JSON.stringify(desc)}`];
  }
  referenced.add(d.digest);
  if (!(await isGood(d.digest))) return [`${d.digest} is missing or corrupt`];
  const bytes = await content.readBytes(d.digest);
  if (bytes.length !== d.size) return [`${d.digest} has ${bytes.length} bytes, its descriptor says ${d.size}`];
  if (typeof d.mediaType === 'string' && !d.mediaType.endsWith('json')) return [];
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    return [`${d.digest} is not valid JSON`];
  }
  const out: string[] = [];
  const manifests = json['manifests'];
  if ((typeof d.mediaType === 'string' && isIndexMediaType(d.mediaType)) || Array.isArray(manifests)) {
    if (depth >= MAX_DEPTH || !Array.isArray(manifests)) return [`${d.digest}: not a usable index`];
    for (const m of manifests) out.push(...(await checkReachable(content, m, isGood, referenced, depth + 1)));
    return out;
  }
  const layers = json['layers'];
  if (!Array.isArray(layers)) return [`${d.digest}: manifest without layers`];
  // The config is JSON, the layers are data: only their presence, hash and size matter.
  const config = json['config'] as { digest?: unknown } | undefined;
  const configFailures = await checkBlob(content, config, isGood, referenced);
  out.push(...configFailures.map((f) => `config ${f}`));
  if (configFailures.length === 0 && config) {
    let diffIDs: unknown;
    try {
      const cfg = JSON.parse((await content.readBytes(config.digest as string)).toString('utf8')) as { rootfs?: { diff_ids?: unknown } } | null;
      diffIDs = cfg?.rootfs?.diff_ids;
    } catch {
      diffIDs = undefined;
    }
    if (!Array.isArray(diffIDs) || diffIDs.length !== layers.length) out.push(`config ${config.digest as string} lists ${Array.isArray(diffIDs) ? diffIDs.length : 'no'} diff_ids for ${layers.length} layers`);
  }
  for (const layer of layers) out.push(...(await checkBlob(content, layer, isGood, referenced)).map((f) => `layer ${f}`));
  return out;
}

async function checkBlob(content: ContentStore, desc: unknown, isGood: (digest: string) => Promise<boolean>, referenced: Set<string>): Promise<string[]> {
  const d = desc as { digest?: unknown; size?: unknown } | null | undefined;
  if (!d || typeof d.digest !== 'string' || !isDigest(d.digest) || typeof d.size !== 'number') return [`invalid descriptor ${JSON.stringify(desc)}`];
  referenced.add(d.digest);
  if (!(await isGood(d.digest))) return [`${d.digest} is missing or corrupt`];
  const st = await lstat(content.blobPath(d.digest));
  if (st.size !== d.size) return [`${d.digest} has ${st.size} bytes, its descriptor says ${d.size}`];
  return [];
}

/**
 * The cache index's dirs (cache/, cache/keys/, …), where its locks and atomic writes live. Only
 * these: cache-mounts/ and the like hold users' own files, whose `*.lock` are none of ours.
 */
async function metadataDirs(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of ['cache']) {
    const dir = join(root, name);
    if (!(await isDir(dir))) continue;
    out.push(dir);
    for (const sub of await listDir(dir)) if (await isDir(join(dir, sub))) out.push(join(dir, sub));
  }
  return out;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

async function isDir(path: string): Promise<boolean> {
  return lstat(path).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

async function readJson(path: string): Promise<{ value?: unknown; error?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { error: (err as Error).message };
  }
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

