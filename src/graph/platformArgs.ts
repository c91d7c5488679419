/**
 * The ARGs BuildKit defines without a declaration: the platform of the build machine and of the
 * image being built (usable in FROM; in a stage after `ARG NAME`), and the proxy variables, which
 * reach RUN without a declaration but never an image's history or config.
 */
import { normalizePlatform } from '../image/platform.js';
import type { Platform } from '../image/types.js';

const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

export function isProxyArg(name: string): boolean {
  return PROXY_ARGS.includes(name);
}

/** TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT and the same four for BUILD. */
export function platformArgs(target: Platform, build: Platform): Map<string, string> {
  const out = new Map<string, string>();
  const add = (prefix: string, raw: Platform) => {
    // containerd's normal form, as BuildKit formats them: linux/arm64, linux/arm/v7.
    const p = normalizePlatform(raw);
    out.set(`${prefix}PLATFORM`, [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/'));
    out.set(`${prefix}OS`, p.os);
    out.set(`${prefix}ARCH`, p.architecture);
    out.set(`${prefix}VARIANT`, p.variant ?? '');
  };
  add('TARGET', target);
  add('BUILD', build);
  return out;
}

/** The proxy variables among the build args, for RUN's environment. */
export function proxyBuildArgs(buildArgs: ReadonlyMap<string, string>): Map<string, string> {
  return new Map([...buildArgs].filter(([k]) => isProxyArg(k)));
}
