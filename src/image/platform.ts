import { endianness } from 'node:os';
import { TsbuildError } from '../errors.js';
import type { Platform } from './types.js';

/**
 * Platforms as containerd normalises and matches them: os and architecture must match;
 * variants follow the arm rules (arm64 means v8, arm means v7), and a machine that runs a
 * variant also runs the older ones of its family, preferred newest first.
 */

const archAliases: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  i386: '386',
  i686: '386',
  armhf: 'arm',
  armel: 'arm',
};

/** containerd's Normalize: canonical arch names, default arm variants made implicit or explicit. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const rawArch = p.architecture.toLowerCase();
  const architecture = archAliases[rawArch] ?? rawArch;
  let variant = p.variant?.toLowerCase() ?? '';
  if (rawArch === 'armhf') variant = 'v7';
  else if (rawArch === 'armel') variant = 'v6';
  else if (architecture === 'arm64') {
    if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
    else if (/^\d/.test(variant)) variant = `v${variant}`;
  } else if (architecture === 'arm') {
    if (variant === '' || variant === '7') variant = 'v7';
    else if (/^\d+$/.test(variant)) variant = `v${variant}`;
  } else if (architecture === 'amd64') {
    if (variant === 'v1') variant = '';
  }
  const out: Platform = { os, architecture };
  if (variant !== '') out.variant = variant;
  if (p['os.version'] !== undefined) out['os.version'] = p['os.version'];
  return out;
}

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const arch = process.arch as string;
  switch (arch) {
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'arm64':
      return { os: 'linux', architecture: 'arm64', variant: 'v8' };
    case 'arm': {
      const vars = (process.config.variables as Record<string, unknown>)['arm_version'];
      const v = typeof vars === 'string' || typeof vars === 'number' ? String(vars) : '7';
      return { os: 'linux', architecture: 'arm', variant: `v${v}` };
    }
    case 'ia32':
      return { os: 'linux', architecture: '386' };
    case 'ppc64':
      return { os: 'linux', architecture: endianness() === 'LE' ? 'ppc64le' : 'ppc64' };
    case 'mipsel':
      return { os: 'linux', architecture: 'mipsle' };
    case 'mips64el':
      return { os: 'linux', architecture: 'mips64le' };
    default:
      // s390x, riscv64, loong64 and mips share their names with OCI.
      return { os: 'linux', architecture: arch };
  }
}

export function parsePlatform(s: string): Platform {
  const parts = s.trim().split('/');
  const bad = (): TsbuildError =>
    new TsbuildError('USAGE', `parsing platform "${s}": expected os/arch[/variant]`, {
      hint: 'for example linux/amd64, linux/arm64/v8 or linux/arm/v7',
    });
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '' || !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw bad();
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  const p: Platform = { os: os.toLowerCase(), architecture: architecture.toLowerCase() };
  if (variant !== undefined) p.variant = variant.toLowerCase();
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Platforms `want` can run, best first (containerd's platformVector). */
function compatibleVector(want: Platform): Platform[] {
  const n = normalizePlatform(want);
  const vector: Platform[] = [n];
  const variantNumber = (v: string | undefined): number => {
    const m = /^v(\d+)/.exec(v ?? '');
    return m ? Number(m[1]) : NaN;
  };
  if (n.architecture === 'amd64') {
    const level = variantNumber(n.variant);
    for (let l = level - 1; l >= 2; l--) vector.push({ os: n.os, architecture: 'amd64', variant: `v${l}` });
    if (level >= 2) vector.push({ os: n.os, architecture: 'amd64' });
  } else if (n.architecture === 'arm64') {
    // An arm64 machine runs 32-bit arm binaries (v8 and older), as containerd allows.
    for (let l = 8; l >= 5; l--) vector.push({ os: n.os, architecture: 'arm', variant: `v${l}` });
  } else if (n.architecture === 'arm') {
    const level = variantNumber(n.variant);
    for (let l = level - 1; l >= 5; l--) vector.push({ os: n.os, architecture: 'arm', variant: `v${l}` });
  }
  return vector;
}

function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** Whether an image built for `have` runs where `want` is asked for. */
export function platformMatches(want: Platform, have: Platform): boolean {
  const h = normalizePlatform(have);
  return compatibleVector(want).some((c) => samePlatform(c, h));
}

/**
 * Index of the best candidate for `want`, or -1. An exact match (after normalisation) beats an
 * older compatible variant; among equals the first in the list wins, as in an image index.
 */
export function matchPlatform(want: Platform, candidates: readonly (Platform | undefined)[]): number {
  const vector = compatibleVector(want);
  let best = -1;
  let bestRank = Infinity;
  candidates.forEach((candidate, i) => {
    if (!candidate) return;
    const h = normalizePlatform(candidate);
    const rank = vector.findIndex((c) => samePlatform(c, h));
    if (rank !== -1 && rank < bestRank) {
      best = i;
      bestRank = rank;
    }
  });
  return best;
}
