/**
 * Imports between src/'s top-level modules point downward only. The layer order is src/README.md's
 * module map (rows top first), so the map and this check cannot drift apart.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** The module map's first column, top layer first: `cli`, `build`, …, `errors.ts`. */
function layerOrder(readme: string): string[] {
  const section = readme.split(/^## Module map$/m)[1]?.split(/^## /m)[0] ?? '';
  return section
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|\s*(dir\s*\||-)/.test(l))
    .map((l) => (l.split('|')[1] ?? '').trim().replace(/\/$/, ''));
}

interface Import {
  file: string;
  spec: string;
  from: string;
  to: string;
}

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const topOf = (path: string): string => relative(SRC, path).split(sep)[0]!.replace(/\.[jt]s$/, '');

/** Every relative import (static, type-only, re-export, dynamic) that crosses a top-level module. */
async function crossModuleImports(): Promise<Import[]> {
  const out: Import[] = [];
  for (const file of await tsFiles(SRC)) {
    const info = ts.preProcessFile(await readFile(file, 'utf8'), true, true);
    for (const { fileName: spec } of info.importedFiles) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      if (relative(SRC, target).startsWith('..')) continue;
      const from = topOf(file);
      const to = topOf(target);
      if (from !== to) out.push({ file: relative(SRC, file), spec, from, to });
    }
  }
  return out;
}

describe('module layers (src/README.md module map)', () => {
  it('lists every top-level entry of src/ exactly once', async () => {
    const order = layerOrder(await readFile(join(SRC, 'README.md'), 'utf8'));
    const entries = (await readdir(SRC, { withFileTypes: true }))
      .filter((e) => e.isDirectory() || e.name.endsWith('.ts'))
      .map((e) => e.name.replace(/\.ts$/, ''));
    expect(new Set(order).size).toBe(order.length);
    expect([...order.map((n) => n.replace(/\.ts$/, ''))].sort()).toEqual(entries.sort());
  });

  it('has no import from a module to one listed above it', async () => {
    const rank = new Map(layerOrder(await readFile(join(SRC, 'README.md'), 'utf8')).map((n, i) => [n.replace(/\.ts$/, ''), i]));
    const imports = await crossModuleImports();
    // The scan must see the imports that do exist, or an empty result would prove nothing.
    expect(imports.some((i) => i.from === 'cli' && i.to === 'build')).toBe(true);
    const upward = imports
      .filter((i) => rank.get(i.to)! < rank.get(i.from)!)
      .map((i) => `src/${i.file} imports ${i.spec}: ${i.to} is above ${i.from} in src/README.md's module map`);
    expect(upward).toEqual([]);
  });
});
