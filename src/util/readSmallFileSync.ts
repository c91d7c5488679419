import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/**
 * The whole of a small file, read synchronously with one open, fstat and read: for the metadata
 * every build reads (manifests, configs, index JSON), where fs.promises.readFile costs four
 * thread-pool round trips for a few µs of syscalls. Undefined when the file holds more than
 * `limit` bytes: the caller streams that one instead. O_NONBLOCK keeps a FIFO planted where a
 * file should be from blocking the whole process (it reads as empty).
 */
export function readSmallFileSync(path: string, limit: number): Buffer | undefined {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    let buf = Buffer.allocUnsafe(Math.min(fstatSync(fd).size, limit) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > limit) return undefined;
        // The file grew since fstat, or reports no size (/proc).
        const bigger = Buffer.allocUnsafe(Math.min(n * 2, limit + 1));
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) return buf.subarray(0, n);
      n += got;
    }
  } finally {
    closeSync(fd);
  }
}
