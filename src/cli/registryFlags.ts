/** The registry-related flags several commands share, and the client they configure. */
import { Flags } from '@oclif/core';
import { fileCredentialLookup } from '../transport/registryAuth.js';
import { RegistryClient } from '../transport/registryClient.js';

export const registryFlags = {
  'insecure-registry': Flags.string({ description: 'HOST[:PORT] to reach over http or unverified TLS (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  'registry-mirror': Flags.string({
    description: 'HOST[:PORT] tried before Docker Hub for docker.io images (repeatable; default: $TSBUILD_REGISTRY_MIRRORS, comma-separated)',
    multiple: true,
    multipleNonGreedy: true,
    default: [],
  }),
};

export function registryClientFor(flags: { 'insecure-registry': string[]; 'registry-mirror'?: string[] }, env: NodeJS.ProcessEnv = process.env): RegistryClient {
  const mirrors = flags['registry-mirror']?.length ? flags['registry-mirror'] : (env['TSBUILD_REGISTRY_MIRRORS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return new RegistryClient({ insecureRegistries: flags['insecure-registry'], credentials: fileCredentialLookup(), mirrors });
}
