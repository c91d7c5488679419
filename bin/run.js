#!/usr/bin/env node
// TSBUILD_DEBUG=1: stack traces through the bundle's source maps name src/*.ts lines (tools/bundle.mjs).
if (process.env.TSBUILD_DEBUG === '1') process.setSourceMapsEnabled(true);
const { main } = await import('../dist/bundle/main.js');

await main(process.argv.slice(2));
