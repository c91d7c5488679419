/** The CLI around the build: typo help, other tools' flag spellings, info, completions, config errors. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execCommand } from '../../helpers/exec.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

describe('tsbuild CLI', () => {
  it('suggests the flag a typo meant, as a usage error', async () => {
    for (const [typo, meant] of [
      ['--tga', '--tag'],
      ['--progres', '--progress'],
      ['--buildarg', '--build-arg'],
      ['--dockerfil', '--dockerfile'],
    ] as const) {
      const res = await runTsbuild(['build', typo, 'x', '.']);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe(`error: Nonexistent flag: ${typo}\nhint: did you mean ${meant}? (see tsbuild --help)\n`);
    }
    const far = await runTsbuild(['--zzzzzz', '.']);
    expect(far.stderr).toBe('error: Nonexistent flag: --zzzzzz\nhint: see tsbuild --help\n');
  });

  it('groups build --help by topic and lists the buildah/kaniko spellings', async () => {
    const res = await runTsbuild(['build', '--help']);
    expect(res.code, res.stderr).toBe(0);
    for (const group of ['INPUT FLAGS', 'OUTPUT FLAGS', 'IMAGE FLAGS', 'DISPLAY FLAGS', 'REGISTRY FLAGS', 'CACHE FLAGS']) expect(res.stdout).toContain(group);
    for (const flag of ['--destination', '--context', '--[no-]tls-verify', '--load', '--[no-]layers', '--progress=<option>', '--dockerfile']) expect(res.stdout).toContain(flag);
    const top = await runTsbuild(['--help']);
    for (const cmd of ['bake', 'build', 'completion', 'images', 'info', 'push']) expect(top.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
  });

  it('accepts --tls-verify=false and --cache=true as buildah and kaniko write them', async () => {
    // A missing context fails after parsing, so the flags themselves were accepted.
    const res = await runTsbuild(['build', '--tls-verify=false', '--cache=true', '--layers=false', '--dockerfile', '/nonexistent/Dockerfile', '/nonexistent']);
    expect(res.stderr).not.toContain('Nonexistent flag');
    expect(res.stderr).not.toContain('Unexpected argument');
    expect(res.stderr).toMatch(/^error: .*Dockerfile/m);
  });

  it('tsbuild info names the store, isolation, helper and config file', async () => {
    const cfg = await makeTempDir('tsbuild-info-cfg');
    await mkdir(join(cfg, 'tsbuild'));
    await writeFile(join(cfg, 'tsbuild', 'config.yaml'), `root: ${cfg}/store\nregistries:\n  insecure: [localhost:5000]\n`);
    const res = await runTsbuild(['info'], { env: { XDG_CONFIG_HOME: cfg, TSBUILD_ROOT: '' } });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^version: +tsbuild \d+\.\d+\.\d+/m);
    expect(res.stdout).toContain(`store:      ${cfg}/store (not created yet)`);
    expect(res.stdout).toMatch(/^isolation: +root/m);
    expect(res.stdout).toMatch(/^helper: +\/.*tsbuild-helper$/m);
    expect(res.stdout).toContain(`config:     ${cfg}/tsbuild/config.yaml`);

    await writeFile(join(cfg, 'tsbuild', 'config.yaml'), 'jobs: many\n');
    const bad = await runTsbuild(['info'], { env: { XDG_CONFIG_HOME: cfg } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`error: ${cfg}/tsbuild/config.yaml: jobs must be a positive integer\nhint: see README.md, "Configuration"\n`);
  });

  it('completion scripts for bash (syntax-checked by bash), zsh and fish', async () => {
    const bash = await runTsbuild(['completion', 'bash']);
    expect(bash.code, bash.stderr).toBe(0);
    expect(bash.stdout).toContain('complete -o filenames -F _tsbuild tsbuild');
    expect(bash.stdout).toContain('--build-arg');
    const dir = await makeTempDir('tsbuild-completion');
    await writeFile(join(dir, 'tsbuild.bash'), bash.stdout);
    // Source it and ask for the completions of `tsbuild build --ta`.
    const probe = await execCommand('bash', ['-c', `source ${dir}/tsbuild.bash; COMP_WORDS=(tsbuild build --ta); COMP_CWORD=2; _tsbuild; echo "\${COMPREPLY[*]}"`]);
    expect(probe.stderr).toBe('');
    expect(probe.stdout.trim().split(' ')).toEqual(expect.arrayContaining(['--tag', '--target']));
    const progress = await execCommand('bash', ['-c', `source ${dir}/tsbuild.bash; COMP_WORDS=(tsbuild build --progress ''); COMP_CWORD=3; _tsbuild; echo "\${COMPREPLY[*]}"`]);
    expect(progress.stdout.trim()).toBe('auto tty plain json quiet');
    const zsh = await runTsbuild(['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef tsbuild/);
    expect(zsh.stdout).toContain("'--progress[");
    const fish = await runTsbuild(['completion', 'fish']);
    expect(fish.stdout).toContain('complete -c tsbuild -n "__fish_seen_subcommand_from build" -l tag -s t');
    const wrong = await runTsbuild(['completion', 'powershell']);
    expect(wrong.code).toBe(2);
  });
});
