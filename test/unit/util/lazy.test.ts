import { describe, expect, it } from 'vitest';
import { lazy } from '../../../src/util/lazy.js';

describe('lazy', () => {
  it('makes the value on the first get only, and made() never makes it', async () => {
    let calls = 0;
    const value = lazy(async () => ++calls);
    expect(value.made()).toBeUndefined();
    expect(calls).toBe(0);
    expect(await Promise.all([value.get(), value.get()])).toEqual([1, 1]);
    expect(await value.made()).toBe(1);
    expect(calls).toBe(1);
  });
});
