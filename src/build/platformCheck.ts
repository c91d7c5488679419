/**
 * Whether a RUN step for an image's platform can execute here: natively (same architecture, or
 * one the CPU runs as well, like 386 on amd64) or through a registered binfmt_misc handler
 * (QEMU user emulation). Otherwise the step would fail with an opaque "exec format error".
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { formatPlatform } from '../image/platform.js';
import type { ImageConfig, Platform } from '../image/types.js';

/** Architectures a CPU of the key's architecture runs without emulation. */
const NATIVE: Record<string, readonly string[]> = {
  amd64: ['amd64', '386'],
  arm64: ['arm64', 'arm'],
};

/** QEMU's names for OCI architectures, as binfmt handlers are registered (qemu-aarch64, …). */
const QEMU: Record<string, string> = {
  amd64: 'x86_64',
  arm64: 'aarch64',
  arm: 'arm',
  '386': 'i386',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips64le: 'mips64el',
  loong64: 'loongarch64',
};

export async function enabledBinfmtHandlers(dir = '/proc/sys/fs/binfmt_misc'): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of names) {
    if (name === 'register' || name === 'status') continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    if (text.startsWith('enabled')) out.push(name);
  }
  return out;
}

export function runsNatively(target: string, host: string): boolean {
  return target === host || (NATIVE[host]?.includes(target) ?? false);
}

/** Throws a clear error when a RUN step for `config`'s platform cannot execute on `host`. */
export async function assertRunnable(config: ImageConfig, host: Platform, binfmtDir?: string): Promise<void> {
  const arch = config.architecture;
  if (config.os === host.os && runsNatively(arch, host.architecture)) return;
  const qemu = QEMU[arch] ?? arch;
  const handlers = await enabledBinfmtHandlers(binfmtDir);
  if (config.os === 'linux' && handlers.some((h) => h === `qemu-${qemu}` || h.endsWith(`-${qemu}`))) return;
  const target = formatPlatform({ os: config.os, architecture: arch, ...(config.variant ? { variant: config.variant } : {}) });
  throw new TsbuildError('RUN_FAILED', `cannot run a ${target} RUN step on this ${formatPlatform(host)} machine: no binfmt_misc handler for ${arch} is registered`, {
    hint: `register QEMU user emulation (Debian: apt-get install qemu-user-static binfmt-support), or build for ${formatPlatform(host)}`,
  });
}
