#!/usr/bin/env node
// Times tsbuild's layer commit alone (src/layer/commitLayer.ts: tar → sha256 → adaptive gzip →
// content store) on a directory, so it can be set next to `tar | gzip -1 | sha256sum` on the same
// tree. Needs `npm run build` first.   node bench/commit-layer.mjs DIR STORE_DIR
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [dir, storeDir] = process.argv.slice(2);
if (!dir || !storeDir) {
  console.error('usage: node bench/commit-layer.mjs DIR STORE_DIR');
  process.exit(2);
}
const { commitLayer } = await import(join(root, 'dist/layer/commitLayer.js'));
const { ContentStore } = await import(join(root, 'dist/store/contentStore.js'));
const started = process.hrtime.bigint();
const info = await commitLayer(dir, new ContentStore(storeDir), { xattrFlavor: 'user' });
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ seconds, size: info.size, digest: info.digest, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
