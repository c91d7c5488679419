/**
 * bin/tsbuild (a sh script) decides, before Node starts, which commands enter tsbuild's
 * namespace: build and bake, the default command included. Its list of the other words must
 * be the one main.ts dispatches on, or a new command would be run as a build.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commands } from '../../../src/cli/commands.js';
import { COMMAND_IDS, PASS_THROUGH, withDefaultCommand } from '../../../src/cli/main.js';
import { execCommand } from '../../helpers/exec.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot } from '../../helpers/tsbuild.js';

/** The words of the launcher's `case ${1-} in` line that run node directly. */
async function launcherDirectWords(): Promise<string[]> {
  const text = await readFile(join(repoRoot(), 'bin', 'tsbuild'), 'utf8');
  const line = text.split('\n').find((l) => /^\s*''\|.*\) enter=no ;;$/.test(l));
  if (line === undefined) throw new Error("bin/tsbuild: the `''|...) enter=no ;;` line is gone");
  return line.trim().replace(/\) enter=no ;;$/, '').split('|').filter((w) => w !== "''");
}

describe('bin/tsbuild', () => {
  it('runs node directly for exactly the commands main.ts knows besides build and bake', async () => {
    const known = new Set<string>([...COMMAND_IDS, ...Object.keys(commands), ...PASS_THROUGH]);
    known.delete('build');
    known.delete('bake');
    expect((await launcherDirectWords()).sort()).toEqual([...known].sort());
  });

  it('enters for exactly the words main.ts turns into build or bake', async () => {
    const direct = new Set(await launcherDirectWords());
    for (const first of [...COMMAND_IDS, ...Object.keys(commands), ...PASS_THROUGH, '-t', '.', 'app']) {
      const id = withDefaultCommand([first])[0];
      expect(direct.has(first), first).toBe(id !== 'build' && id !== 'bake');
    }
  });

  it("hands NODE_EXTRA_CA_CERTS to tsbuild instead of Node's start-up", async () => {
    // A stand-in `node` first on PATH prints what the launcher gave it.
    const dir = await makeTempDir('tsbuild-launcher');
    await writeFile(join(dir, 'node'), '#!/bin/sh\necho "node=${NODE_EXTRA_CA_CERTS-unset} tsbuild=${TSBUILD_EXTRA_CA_CERTS-unset} args=$*"\n', { mode: 0o755 });
    const env = { PATH: `${dir}:/usr/bin:/bin`, NODE_EXTRA_CA_CERTS: '/etc/company-ca.pem' };
    const r = await execCommand(join(repoRoot(), 'bin', 'tsbuild'), ['images'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`node=unset tsbuild=/etc/company-ca.pem args=${join(repoRoot(), 'bin', 'run.js')} images`);
    const without = await execCommand(join(repoRoot(), 'bin', 'tsbuild'), ['images'], { env: { PATH: env.PATH } });
    expect(without.stdout).toContain('node=unset tsbuild=unset');
  });

  it('is what npm installs as the tsbuild command', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot(), 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin['tsbuild']).toBe('bin/tsbuild');
  });
});
