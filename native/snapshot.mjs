// Builds tsbuild's V8 start-up snapshot for the Node.js running this script: src/cli/snapshotMain.ts
// and everything a build can load, bundled into one script (native/build/snapshot.cjs) and run
// once under `node --build-snapshot` (native/build/tsbuild.blob). bin/tsbuild starts builds from
// it: Node then deserializes tsbuild's evaluated modules instead of finding, reading, compiling
// and running ~140 of them (src/README.md, "Process model").
//
// A blob only loads into the Node binary (and V8 flags) that made it, so the binary's identity
// goes next to it (tsbuild.blob.node: device:inode:size:mtime, as `stat -L -c %d:%i:%s:%Y`
// prints it); the launcher compares before using the blob and runs bin/run.js otherwise.
// Like native/build.mjs it is per machine: run by `npm run build` (and so by `npm ci`).
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const out = join(here, 'build');
const script = join(out, 'snapshot.cjs');
const blob = join(out, 'tsbuild.blob');
mkdirSync(out, { recursive: true });

// Built-in modules a snapshot cannot hold (Node 20 aborts on their native handles): each is
// replaced by an object whose properties load the real module on first use, after start-up.
const DEFERRED = ['http', 'https', 'tls', 'http2'];
// Modules of dependencies that a build never calls but that come along with what it does call
// (@oclif/core's errors index pulls in its help renderer: ejs, a TypeScript loader for ts-node
// set-ups, spinners; fetch-blob's fallback for Nodes without web streams). Left out, each is a
// stand-in that throws if it is ever used. The @oclif/core index and the command table are
// only for commands other than build, which the snapshot hands to bin/run.js.
const LEFT_OUT = /^(typescript|ejs|cli-spinners|web-streams-polyfill(\/.*)?|@oclif\/core)$|\/commands\.js$/;
const require = createRequire(import.meta.url);

const snapshotPlugin = {
  name: 'tsbuild-snapshot',
  setup(build) {
    build.onResolve({ filter: new RegExp(`^(node:)?(${DEFERRED.join('|')})$`) }, (args) => {
      const name = args.path.replace(/^node:/, '');
      // The stand-in's own require of the real module is left to Node.
      if (args.namespace === 'deferred-builtin') return { path: `node:${name}`, external: true };
      return { path: name, namespace: 'deferred-builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'deferred-builtin' }, (args) => {
      const keys = Object.keys(require(`node:${args.path}`));
      const lines = keys.map((k) => `Object.defineProperty(module.exports, ${JSON.stringify(k)}, { enumerable: true, get: () => load()[${JSON.stringify(k)}] });`);
      return { contents: `let real;\nconst load = () => (real ??= require('node:${args.path}'));\n${lines.join('\n')}\n`, loader: 'js' };
    });
    build.onResolve({ filter: LEFT_OUT }, (args) => ({ path: args.path, namespace: 'left-out' }));
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
      contents: `module.exports = new Proxy({}, { get(_, key) {
  if (typeof key === 'symbol' || key === '__esModule' || key === 'then') return undefined;
  throw new Error(${JSON.stringify(`${args.path} is not in tsbuild's start-up snapshot (native/snapshot.mjs); run bin/run.js`)});
} });\n`,
      loader: 'js',
    }));
  },
};

await esbuild.build({
  entryPoints: [join(root, 'src', 'cli', 'snapshotMain.ts')],
  outfile: script,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Smaller source, smaller heap to deserialize; names kept for error messages and stacks.
  minify: process.env.TSBUILD_SNAPSHOT_MINIFY !== "0",
  keepNames: true,
  define: { 'import.meta.url': 'globalThis.__tsbuildModuleUrl' },
  plugins: [snapshotPlugin],
  logLevel: 'warning',
});

// Written aside and renamed: a failed run leaves the previous blob or none, never half of one.
const partial = `${blob}.partial`;
const stamp = `${blob}.node`;
rmSync(stamp, { force: true });
rmSync(partial, { force: true });
execFileSync(process.execPath, ['--snapshot-blob', partial, '--build-snapshot', script], {
  cwd: out,
  // Node warns that some built-ins (tty, readline, child_process) are "not yet fully verified"
  // in snapshots; tsbuild's tests run builds from this blob.
  env: { ...process.env, NODE_OPTIONS: '', NODE_NO_WARNINGS: '1' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const st = statSync(process.execPath);
renameSync(partial, blob);
writeFileSync(stamp, `${st.dev}:${st.ino}:${st.size}:${Math.floor(st.mtimeMs / 1000)}\n`);
console.log(`snapshot: ${blob} for ${process.execPath} ${process.version}`);
