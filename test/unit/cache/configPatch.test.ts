import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/cache/canonicalJson.js';
import { applyConfigPatch, diffConfig } from '../../../src/cache/configPatch.js';
import type { ImageConfig } from '../../../src/image/types.js';

const base: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin'], Labels: { a: '1', b: '2' }, User: 'root' },
  rootfs: { type: 'layers', diff_ids: ['sha256:11'] },
  history: [{ created_by: 'x' }],
};

describe('config patches', () => {
  it('record only what changed, and re-apply to the very same config', () => {
    const after: ImageConfig = {
      ...base,
      config: { Env: ['PATH=/bin', 'A=1'], Labels: { a: '1', b: '3', c: '4' } },
      rootfs: { type: 'layers', diff_ids: ['sha256:11', 'sha256:22'] },
      history: [{ created_by: 'x' }, { created_by: 'y' }],
    };
    const patch = diffConfig(base, after);
    expect(patch).toEqual([
      [['config', 'Env'], ['PATH=/bin', 'A=1']],
      [['config', 'Labels', 'b'], '3'],
      [['config', 'Labels', 'c'], '4'],
      [['config', 'User']],
      [['rootfs', 'diff_ids'], ['sha256:11', 'sha256:22']],
    ]);
    const applied = applyConfigPatch(base, patch);
    const { history: _h, ...want } = after;
    const { history: _g, ...got } = applied;
    expect(canonicalJson(got)).toBe(canonicalJson(want));
    // The given config is never changed.
    expect(base.config?.Labels).toEqual({ a: '1', b: '2' });
    expect(base.config?.User).toBe('root');
  });

  it('is empty for an unchanged config, and its size does not grow with the labels already there', () => {
    expect(diffConfig(base, { ...base, history: [] })).toEqual([]);
    const many = { ...base, config: { Labels: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, `v${i}`])) } };
    const one = { ...many, config: { Labels: { ...many.config.Labels, new: 'x' } } };
    expect(diffConfig(many, one)).toEqual([[['config', 'Labels', 'new'], 'x']]);
  });
});
