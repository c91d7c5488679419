import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandInstruction } from '../../../src/dockerfile/expand.js';
import { parseDockerfile } from '../../../src/dockerfile/parseDockerfile.js';
import { resolveBuildGraph } from '../../../src/graph/buildGraph.js';
import { conformanceDir } from './conformanceDir.js';

const builtinArgs = new Map([
  ['BUILDPLATFORM', 'linux/amd64'],
  ['TARGETPLATFORM', 'linux/amd64'],
  ['BUILDOS', 'linux'],
  ['BUILDARCH', 'amd64'],
  ['TARGETOS', 'linux'],
  ['TARGETARCH', 'amd64'],
  ['TARGETVARIANT', ''],
]);

for (const folder of ['real-dockerfiles', 'multistage-dockerfiles']) {
  const dir = conformanceDir(folder);
  const files = readdirSync(dir).filter((f) => f.endsWith('.Dockerfile'));

  describe(`${folder}: parse and resolve in place`, () => {
    it('has files to read', () => expect(files.length).toBeGreaterThan(5));
    for (const name of files) {
      it(name, () => {
        const text = readFileSync(path.join(dir, name), 'utf8');
        const ast = parseDockerfile(text, { file: name });
        expect(ast.stages.length).toBeGreaterThan(0);

        // Global ARGs without a default are what users pass with --build-arg.
        const buildArgs = new Map(
          ast.globalArgs.flatMap((g) => g.args).filter((a) => a.defaultValue === undefined).map((a) => [a.name, 'alpine']),
        );
        // Every stage resolves as a target, and every stage a target needs comes before it.
        for (const stage of ast.stages) {
          const g = resolveBuildGraph(ast, {
            buildArgs,
            builtinArgs,
            ...(stage.name !== undefined ? { target: stage.name } : {}),
          });
          const seen = new Set<number>();
          for (const s of g.stages) {
            for (const d of s.deps) expect(seen.has(d), `${s.name ?? s.index} needs ${d} first`).toBe(true);
            seen.add(s.index);
          }
          // With a duplicated name the last stage of that name is the target, as in BuildKit.
          const last = ast.stages.findLast((s) => s.name === stage.name) ?? stage;
          expect(g.target.index).toBe(stage.name !== undefined ? last.index : ast.stages.length - 1);
        }

        // The metadata instructions expand without errors with an environment of ARG/ENV names.
        const env = (n: string): string | undefined => (n.length > 0 ? 'v' : undefined);
        for (const stage of ast.stages) {
          for (const instr of stage.instructions) {
            expect(() => expandInstruction(instr, env, { escapeChar: ast.escapeChar })).not.toThrow();
          }
        }
      });
    }
  });
}

describe('real Dockerfiles: specific shapes', () => {
  it('a Windows Dockerfile keeps its backslash paths and PowerShell SHELL', () => {
    const dir = conformanceDir('real-dockerfiles');
    const name = readdirSync(dir).find((f) => f.includes('windowsservercore')) as string;
    const ast = parseDockerfile(readFileSync(path.join(dir, name), 'utf8'));
    const shell = ast.stages[0]?.instructions.find((i) => i.kind === 'SHELL');
    expect(shell).toMatchObject({ kind: 'SHELL', argv: expect.arrayContaining(['powershell']) });
  });

  it("BuildKit's own Dockerfile resolves dozens of stages and its RUN --mount lines parse", () => {
    const dir = conformanceDir('multistage-dockerfiles');
    const ast = parseDockerfile(readFileSync(path.join(dir, 'moby__buildkit__Dockerfile.Dockerfile'), 'utf8'));
    expect(ast.directives['syntax']).toMatch(/^docker\/dockerfile/);
    expect(ast.stages.length).toBeGreaterThan(30);
    const mounts = ast.stages.flatMap((s) => s.instructions).filter((i) => i.kind === 'RUN' && i.flags.mounts.length > 0);
    expect(mounts.length).toBeGreaterThan(10);
    const g = resolveBuildGraph(ast, { buildArgs: new Map(), builtinArgs });
    expect(g.stages.length).toBeGreaterThan(3);
    expect(g.stages.length).toBeLessThanOrEqual(ast.stages.length);
  });
});
