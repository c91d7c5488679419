import { describe, expect, it } from 'vitest';
import { registryMirrors } from '../../../src/cli/registryFlags.js';
import { parseConfig } from '../../../src/config/loadConfig.js';

const config = parseConfig(
  { registries: { mirrors: { 'docker.io': ['https://mirror.gcr.io/', 'hub.local:5000'], 'index.docker.io': ['old.local'], 'quay.io': ['quay.local'] } } },
  '/c/config.yaml',
);

describe('registry mirrors', () => {
  it("come from the config file's registries.mirrors for Docker Hub when neither flag nor env names any", () => {
    expect(registryMirrors({ env: {}, config })).toEqual(['mirror.gcr.io', 'hub.local:5000', 'old.local']);
  });

  it('TSBUILD_REGISTRY_MIRRORS overrides the config, --registry-mirror overrides both', () => {
    expect(registryMirrors({ env: { TSBUILD_REGISTRY_MIRRORS: 'env.local, env2.local' }, config })).toEqual(['env.local', 'env2.local']);
    expect(registryMirrors({ flag: ['flag.local'], env: { TSBUILD_REGISTRY_MIRRORS: 'env.local' }, config })).toEqual(['flag.local']);
    // An empty flag list or a blank variable does not hide the next source.
    expect(registryMirrors({ flag: [], env: { TSBUILD_REGISTRY_MIRRORS: ' ' }, config })).toEqual(['mirror.gcr.io', 'hub.local:5000', 'old.local']);
  });

  it('are none without any source, and other registries\' mirrors do not leak into Docker Hub\'s', () => {
    expect(registryMirrors({ env: {} })).toEqual([]);
    expect(registryMirrors({ env: {}, config: parseConfig({ registries: { mirrors: { 'quay.io': ['q.local'] } } }, '/c') })).toEqual([]);
  });
});
