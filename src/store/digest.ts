import { TsbuildError } from '../errors.js';

const SHA256_DIGEST = /^sha256:([0-9a-f]{64})$/;

/** The hex part of a `sha256:<hex>` digest; anything else (other algorithms, bad case) is refused. */
export function digestHex(digest: string): string {
  const m = SHA256_DIGEST.exec(digest);
  if (!m?.[1]) {
    throw new TsbuildError('DIGEST_INVALID', `parsing digest: ${JSON.stringify(digest)} is not sha256:<64 hex>`, {
      hint: 'only sha256 digests are supported',
    });
  }
  return m[1];
}

export function isDigest(value: string): boolean {
  return SHA256_DIGEST.test(value);
}

export function digestFromHex(hex: string): string {
  return `sha256:${hex}`;
}
