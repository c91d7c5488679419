#!/usr/bin/env node
// TSBUILD_DEBUG=1: stack traces through the bundle's source maps name src/*.ts lines (package.json "bundle").
if (process.env.TSBUILD_DEBUG === '1') process.setSourceMapsEnabled(true);
let cli;
try {
  cli = await import('../dist/bundle/main.js');
} catch (err) {
  // A checkout nobody built yet (or whose dependencies are missing): one message, no stack.
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  process.stderr.write(`error: tsbuild is not built or not installed: ${err.message.split('\n')[0]}\nhint: run npm ci (it builds dist/ and native/), or npm run build\n`);
  process.exit(1);
}

await cli.main(process.argv.slice(2));
