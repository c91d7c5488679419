import { TsbuildError } from '../errors.js';
import type { ImageReference } from '../image/reference.js';
import { DockerArchiveDestination } from './dockerArchiveDestination.js';
import { OciLayoutDestination } from './ociLayoutDestination.js';
import { OciLayoutSource } from './ociLayoutSource.js';
import type { RegistryClient } from './registryClient.js';
import { RegistryDestination } from './registryDestination.js';
import { RegistrySource } from './registrySource.js';
import { parseDestination, parseSource } from './transportName.js';
import type { ImageDestination, ImageSource } from './types.js';

export interface OpenDestinationOptions {
  registry: RegistryClient;
  /** The full name of the image being written; names an OCI layout entry when the spelling has no ref. */
  sourceName?: string;
  /** Where a bare name goes; a registry by default, as `podman push` reads a destination without transport. */
  local?: (ref: ImageReference) => ImageDestination;
}

/** Opens `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`, `docker://REF` or a bare name for writing. */
export function openDestination(spec: string, options: OpenDestinationOptions): ImageDestination {
  const t = parseDestination(spec);
  switch (t.transport) {
    case 'docker':
      return new RegistryDestination(options.registry, t.reference);
    case 'docker-archive':
      return new DockerArchiveDestination(t.path, t.reference ? [t.reference.toString()] : options.sourceName !== undefined ? [options.sourceName] : []);
    case 'local':
      return options.local ? options.local(t.reference) : new RegistryDestination(options.registry, t.reference);
    case 'oci':
    case 'oci-archive': {
      // skopeo's oci:DIR:REF sets only the ref name; without REF we name it as BuildKit would.
      const names = t.ref !== undefined ? [{ refName: t.ref }] : options.sourceName !== undefined ? [options.sourceName] : [];
      return new OciLayoutDestination({ path: t.path, tar: t.transport === 'oci-archive', names });
    }
  }
}

export interface OpenSourceOptions {
  registry: RegistryClient;
  /** Where a bare name is read from (the local store); without it a bare name is pulled from its registry. */
  local?: (ref: ImageReference) => ImageSource;
  tmpDir?: string;
}

/** Opens `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker://REF` or a bare name for reading. */
export function openSource(spec: string, options: OpenSourceOptions): ImageSource {
  const t = parseSource(spec);
  switch (t.transport) {
    case 'docker':
      return new RegistrySource(options.registry, t.reference);
    case 'local':
      return options.local ? options.local(t.reference) : new RegistrySource(options.registry, t.reference);
    case 'oci':
    case 'oci-archive': {
      const byDigest = t.ref?.startsWith('@') === true;
      return new OciLayoutSource({
        path: t.path,
        archive: t.transport === 'oci-archive',
        ...(t.ref === undefined ? {} : byDigest ? { digest: t.ref.slice(1) } : { tag: t.ref }),
        ...(options.tmpDir !== undefined ? { tmpDir: options.tmpDir } : {}),
      });
    }
    case 'docker-archive':
      throw new TsbuildError('TRANSPORT_INVALID', `reading ${spec}: docker-archive: can only be written`);
  }
}
