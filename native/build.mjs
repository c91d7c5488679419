// Builds the native pieces with the machine's C compiler: the namespace helper (an executable)
// and fsx.node (a tiny N-API addon for xattrs and mknod, which Node's fs lacks, and batched
// directory reads and copies for many small files).
// Run by `npm ci` through the `prepare` script; no node-gyp, no downloads.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'build');
mkdirSync(out, { recursive: true });
const cc = process.env.CC || 'cc';
const cflags = ['-O2', '-Wall', '-Wextra', '-Werror=implicit-function-declaration', '-D_GNU_SOURCE'];

function findNodeHeaders() {
  const candidates = [
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!found) {
    throw new Error(`node_api.h not found (looked in ${candidates.join(', ')}); install Node.js headers (Debian: libnode-dev or nodejs-dev)`);
  }
  return found;
}

function compile(args) {
  console.log(`native: ${cc} ${args.join(' ')}`);
  execFileSync(cc, args, { stdio: 'inherit' });
}

compile([...cflags, join(here, 'tsbuild-helper.c'), '-o', join(out, 'tsbuild-helper')]);
compile([...cflags, '-shared', '-fPIC', `-I${findNodeHeaders()}`, join(here, 'fsx.c'), join(here, 'fsxScan.c'), join(here, 'fsxCopy.c'), join(here, 'fsxTar.c'), '-o', join(out, 'fsx.node')]);
