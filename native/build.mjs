// Builds the native pieces with the machine's C compiler: the namespace helper (an executable)
// and fsx.node (a tiny N-API addon for xattrs and mknod, which Node's fs lacks, and batched
// directory reads and copies for many small files, gzip members by libdeflate, and mounts).
// Run by `npm ci` through the `prepare` script; no node-gyp, no downloads. Needs the C library
// headers and libdeflate's (Debian: libc6-dev, libdeflate-dev).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'build');
mkdirSync(out, { recursive: true });
const cc = process.env.CC || 'cc';
const cflags = ['-O2', '-Wall', '-Wextra', '-Werror=implicit-function-declaration', '-D_GNU_SOURCE'];

/** A missing build need is one line naming what to install, not a stack trace. */
function fail(message) {
  console.error(`native: ${message}`);
  process.exit(1);
}

function findNodeHeaders() {
  const candidates = [
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!found) {
    fail(`node_api.h not found (looked in ${candidates.join(', ')}); install Node.js headers (Debian: libnode-dev or nodejs-dev)`);
  }
  return found;
}

/** Asks the compiler itself, so CC, CPATH and its own include dirs count as they will for the build. */
function requireHeader(header, pkg) {
  try {
    execFileSync(cc, ['-E', '-x', 'c', '-', '-o', '/dev/null'], { input: `#include <${header}>\n`, stdio: ['pipe', 'ignore', 'ignore'] });
  } catch {
    fail(`${header} not found by ${cc}: install ${pkg} (apt-get install -y ${pkg}), then run npm run build again`);
  }
}

function compile(args) {
  console.log(`native: ${cc} ${args.join(' ')}`);
  execFileSync(cc, args, { stdio: 'inherit' });
}

requireHeader('libdeflate.h', 'libdeflate-dev');
compile([...cflags, join(here, 'tsbuild-helper.c'), '-o', join(out, 'tsbuild-helper')]);
const addonSources = ['fsx.c', 'fsxScan.c', 'fsxCopy.c', 'fsxTar.c', 'fsxGzip.c', 'fsxMount.c'].map((f) => join(here, f));
compile([...cflags, '-shared', '-fPIC', `-I${findNodeHeaders()}`, ...addonSources, '-ldeflate', '-o', join(out, 'fsx.node')]);
