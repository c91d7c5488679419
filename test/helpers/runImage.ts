import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execChecked, execCommand } from './exec.js';
import { makeTempDir, removeTree } from './tmp.js';

export interface RunImageOptions {
  /** Replaces the image's command (Entrypoint + Cmd as umoci resolved them). */
  args?: string[];
  /** Extra "KEY=value" entries appended to the image's environment. */
  env?: string[];
  /** Working directory inside the container; defaults to the image's WorkingDir. */
  cwd?: string;
  signal?: AbortSignal;
}

export interface RunImageResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The unpacked rootfs after the run; removed with the test's temp dirs. */
  rootfs: string;
}

interface RuntimeSpec {
  process?: { terminal?: boolean; args?: string[]; env?: string[]; cwd?: string };
  [key: string]: unknown;
}

async function unpackBundle(layoutDir: string, ref: string, signal: AbortSignal | undefined): Promise<string> {
  const parent = await makeTempDir('tsbuild-bundle');
  const bundle = join(parent, 'bundle');
  // As root, umoci restores the image's real owners and writes a runtime config.json; the
  // tree is what a container runtime would see, independent of tsbuild's own extractor.
  await execChecked('umoci', ['unpack', '--image', `${layoutDir}:${ref}`, bundle], signal ? { signal } : {});
  return bundle;
}

/**
 * Unpacks an image from an OCI layout with umoci (not tsbuild) and returns the rootfs path,
 * so a test can assert the tree: files present, deleted files gone, owners and modes. The
 * directory is removed when the test (or, outside a test, the file) finishes.
 */
export async function unpackOciImage(layoutDir: string, ref: string, signal?: AbortSignal): Promise<string> {
  return join(await unpackBundle(layoutDir, ref, signal), 'rootfs');
}

/**
 * Runs an image from an OCI layout with umoci + runc, as root, and captures its output.
 *
 * On this CI machine (Debian 12, runc 1.1.5, hybrid cgroup v1 hierarchy with a v2 "unified"
 * mount) umoci's generated config runs unchanged with runc's default cgroupfs driver; only
 * process.terminal is switched off, because umoci sets it to true and runc then demands a
 * console socket. runc's state lives in a private --root so parallel test processes and a
 * host runc never see each other's containers.
 */
export async function runOciImage(layoutDir: string, ref: string, opts: RunImageOptions = {}): Promise<RunImageResult> {
  const bundle = await unpackBundle(layoutDir, ref, opts.signal);
  const configPath = join(bundle, 'config.json');
  const spec = JSON.parse(await readFile(configPath, 'utf8')) as RuntimeSpec;
  const proc = (spec.process ??= {});
  proc.terminal = false;
  if (opts.args) proc.args = opts.args;
  if (opts.env) proc.env = [...(proc.env ?? []), ...opts.env];
  if (opts.cwd) proc.cwd = opts.cwd;
  await writeFile(configPath, JSON.stringify(spec, null, 2));

  const stateDir = await makeTempDir('tsbuild-runc-state', { mode: 0o700 });
  const id = `tsbuild-test-${randomUUID().slice(0, 12)}`;
  try {
    // `runc run` in the foreground deletes the container itself when it exits.
    const result = await execCommand('runc', ['--root', stateDir, 'run', '--bundle', bundle, id], {
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { ...result, rootfs: join(bundle, 'rootfs') };
  } finally {
    // After an abort (runc killed) the container may still exist: kill and delete it so no
    // process or cgroup outlives the test.
    await execCommand('runc', ['--root', stateDir, 'delete', '--force', id]).catch(() => undefined);
    await removeTree(stateDir);
  }
}
