import { chmod, chown, lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, onTestFinished } from 'vitest';

/**
 * Directories made outside a running test (in beforeAll or at collection time) wait here for
 * the file-level afterAll below. Vitest ignores an afterAll registered while hooks are already
 * running (a beforeAll), so the hook has to be registered when this module is first evaluated,
 * which happens while the test file is being collected. Test files are isolated (one module
 * graph per file), so this state lives exactly as long as one test file.
 */
const pendingDirs = new Set<string>();

try {
  afterAll(async () => {
    const dirs = [...pendingDirs];
    pendingDirs.clear();
    await Promise.all(dirs.map((dir) => removeTree(dir)));
  });
} catch {
  // Imported outside a vitest collection (e.g. from a script): nothing registers cleanup then.
}

/** Set TSBUILD_KEEP_TMP=1 to keep every temp dir for a post-mortem. */
function keepTemp(): boolean {
  return process.env['TSBUILD_KEEP_TMP'] === '1';
}

export interface TempDirOptions {
  /**
   * Defaults to 0755, not mkdtemp's 0700: integration tests run tsbuild as an unprivileged
   * user, which must be able to read contexts and layouts that root prepared.
   */
  mode?: number;
  /** chown the directory itself (e.g. to the test user, so it can write build output there). */
  owner?: { uid: number; gid: number };
}

/**
 * A fresh directory under os.tmpdir(), removed when the current test finishes, or, when made
 * outside a test (beforeAll, describe body), after the whole file.
 */
export async function makeTempDir(prefix: string, opts: TempDirOptions = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
  await chmod(dir, opts.mode ?? 0o755);
  if (opts.owner) await chown(dir, opts.owner.uid, opts.owner.gid);
  if (keepTemp()) return dir;
  try {
    onTestFinished(() => removeTree(dir));
  } catch {
    pendingDirs.add(dir);
  }
  return dir;
}

/**
 * rm -rf that also works on trees a build left read-only (chmod 0555 dirs from a RUN step, or
 * files owned by container uids). Root ignores permission bits, so a plain rm succeeds there;
 * a non-root caller needs the owner's write bit on every directory it empties, so on EACCES or
 * EPERM the tree is made writable and the removal retried once.
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true, maxRetries: 2 });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
  }
  await makeTreeWritable(path);
  await rm(path, { recursive: true, force: true, maxRetries: 2 });
}

async function makeTreeWritable(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  // Owner rwx so the entries can be listed and unlinked; failures (not our file) are left to rm.
  await chmod(path, (st.mode & 0o7777) | 0o700).catch(() => undefined);
  const entries = await readdir(path).catch(() => [] as string[]);
  await Promise.all(entries.map((name) => makeTreeWritable(join(path, name))));
}
