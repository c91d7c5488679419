import { createRequire } from 'node:module';
import { TsbuildError } from '../errors.js';

/** The raw shape of native/build/fsx.node (see native/fsx.c). */
interface FsxAddon {
  lgetxattrs(path: string): Promise<Array<[string, Buffer]>>;
  lsetxattr(path: string, name: string, value: Buffer): Promise<void>;
  mknod(path: string, mode: number, major: number, minor: number): Promise<void>;
}

// Both src/util/fsx.ts (tests) and dist/util/fsx.js (installed) sit two levels below the
// package root, so one relative path serves both.
const ADDON_PATH = '../../native/build/fsx.node';
const S_IFCHR = 0o020000;

function addon(): FsxAddon {
  const require = createRequire(import.meta.url);
  try {
    // require() caches the loaded module, so calling this per operation costs a map lookup.
    return require(ADDON_PATH) as FsxAddon;
  } catch (err) {
    throw new TsbuildError('HELPER_MISSING', `loading native addon fsx.node: ${(err as Error).message}`, {
      cause: err,
      hint: 'run npm ci (it compiles native/fsx.c with the system C compiler)',
    });
  }
}

/** All extended attributes of `path` (not following a symlink); none on filesystems without xattrs. */
export function lgetxattrs(path: string): Promise<Array<[string, Buffer]>> {
  return addon().lgetxattrs(path);
}

export function lsetxattr(path: string, name: string, value: Buffer): Promise<void> {
  return addon().lsetxattr(path, name, value);
}

/** Creates a character device; 0/0 is an overlayfs whiteout. Needs root in the (user) namespace. */
export function mknodChar(path: string, major: number, minor: number, mode = 0): Promise<void> {
  return addon().mknod(path, S_IFCHR | (mode & 0o7777), major, minor);
}

/** Creates a block device, character device or fifo given the full st_mode (type bits included). */
export function mknodRaw(path: string, mode: number, major: number, minor: number): Promise<void> {
  return addon().mknod(path, mode, major, minor);
}
