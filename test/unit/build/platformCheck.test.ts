import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertRunnable, runsNatively } from '../../../src/build/platformCheck.js';
import { scratchConfig } from '../../../src/build/imageConfig.js';

describe('platform check for RUN', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const binfmt = async (entries: Record<string, string>) => {
    const dir = await mkdtemp(join(tmpdir(), 'binfmt-'));
    dirs.push(dir);
    await mkdir(dir, { recursive: true });
    for (const [name, text] of Object.entries(entries)) await writeFile(join(dir, name), text);
    return dir;
  };
  const amd64 = { os: 'linux', architecture: 'amd64' };

  it('runs the host architecture and the ones its CPU executes natively', () => {
    expect(runsNatively('amd64', 'amd64')).toBe(true);
    expect(runsNatively('386', 'amd64')).toBe(true);
    expect(runsNatively('arm64', 'amd64')).toBe(false);
  });

  it('needs an enabled qemu handler for a foreign architecture', async () => {
    const arm = scratchConfig({ os: 'linux', architecture: 'arm64' });
    const none = await binfmt({ register: '', status: 'enabled' });
    await expect(assertRunnable(arm, amd64, none)).rejects.toThrow(/cannot run a linux\/arm64 RUN step on this linux\/amd64 machine/);
    const disabled = await binfmt({ status: 'enabled', 'qemu-aarch64': 'disabled\ninterpreter /usr/bin/qemu-aarch64-static\n' });
    await expect(assertRunnable(arm, amd64, disabled)).rejects.toThrow(/no binfmt_misc handler for arm64/);
    const enabled = await binfmt({ status: 'enabled', 'qemu-aarch64': 'enabled\ninterpreter /usr/bin/qemu-aarch64-static\n' });
    await expect(assertRunnable(arm, amd64, enabled)).resolves.toBeUndefined();
    await expect(assertRunnable(scratchConfig(amd64), amd64, none)).resolves.toBeUndefined();
  });
});
