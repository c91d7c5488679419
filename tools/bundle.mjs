// Bundles the CLI into dist/bundle/ with esbuild (run by `npm run build`, after tsc has type-checked):
// a build then loads ~20 of our files instead of ~120, which is ~35 ms off every start on a
// 2-core machine (src/README.md, "Start-up"). node_modules stay external, `await import()`
// stays lazy (code splitting), and the source maps point at src/ (bin/run.js turns them on for
// TSBUILD_DEBUG=1). commands.ts is an entry too: oclif loads it (package.json oclif.commands), and
// it must share the bundle's modules, or an error class would exist twice and `instanceof` fail.
// The bundle sits two levels under the package root, as dist/<dir>/*.js does, so the helper and
// the addon are found relative to the module as before (isolation/helperPath.ts, util/fsx.ts).
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts', commands: 'src/cli/commands.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
