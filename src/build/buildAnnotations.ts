/**
 * `--annotation [TYPE:]KEY=VALUE` as buildx spells it. Without a type (or with `manifest:`) the
 * annotation goes on the image manifest, which is what buildx does for a single-platform image;
 * the index and descriptor types need an image index, which tsbuild does not write yet.
 */
import { TsbuildError } from '../errors.js';

export function parseAnnotationFlags(items: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of items) {
    let text = item;
    const typed = /^([a-z-]+)(\[[^\]]*\])?:/.exec(text);
    if (typed && ['manifest', 'index', 'manifest-descriptor', 'index-descriptor'].includes(typed[1] as string)) {
      if (typed[1] !== 'manifest') {
        throw new TsbuildError('USAGE', `--annotation ${item}: ${typed[1]} annotations are not supported yet`, { hint: 'use KEY=VALUE or manifest:KEY=VALUE' });
      }
      text = text.slice(typed[0].length);
    }
    const eq = text.indexOf('=');
    if (eq <= 0) throw new TsbuildError('USAGE', `invalid --annotation ${JSON.stringify(item)}: expected KEY=VALUE`);
    out.set(text.slice(0, eq), text.slice(eq + 1));
  }
  return out;
}
