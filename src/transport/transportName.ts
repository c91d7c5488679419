import { TsbuildError } from '../errors.js';
import { parseReference, type ImageReference } from '../image/reference.js';

/** Where an image comes from or goes to, as written on the command line. */
export type TransportName =
  | { transport: 'oci'; path: string; ref: string | undefined }
  | { transport: 'oci-archive'; path: string; ref: string | undefined }
  | { transport: 'docker'; reference: ImageReference }
  /** `docker save` format (write only); the reference becomes the archive's RepoTags. */
  | { transport: 'docker-archive'; path: string; reference: ImageReference | undefined }
  /** A bare name: the local image store; the caller maps it. */
  | { transport: 'local'; reference: ImageReference };

const ACCEPTED = 'oci:DIR[:REF], oci-archive:FILE[:REF], docker://NAME[:TAG|@DIGEST], docker-archive:FILE[:NAME:TAG] (push only), or a bare image name for the local store';
const unsupported = new Set(['docker-daemon', 'containers-storage', 'dir', 'tarball', 'ostree', 'sif', 'atomic']);
/** OCI's ref.name grammar: components of alphanumerics joined by separators, split by '/'. */
const refNameRe = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

function invalid(input: string, detail: string): TsbuildError {
  return new TsbuildError('TRANSPORT_INVALID', `parsing image location "${input}": ${detail}`, {
    hint: `accepted spellings: ${ACCEPTED}`,
  });
}

/**
 * `oci:/tmp/app:1` → path `/tmp/app`, ref `1`: the ref is what follows the last colon, as
 * skopeo users write it. `oci:/tmp/app` has no ref; `oci:/tmp/app:@sha256:…` names a digest.
 */
function splitPathRef(input: string, rest: string): { path: string; ref: string | undefined } {
  let path = rest;
  let ref: string | undefined;
  const digestAt = rest.lastIndexOf(':@sha256:');
  if (digestAt !== -1) {
    path = rest.slice(0, digestAt);
    ref = rest.slice(digestAt + 1);
    if (!/^@sha256:[a-f0-9]{64}$/.test(ref)) throw invalid(input, `invalid digest "${ref.slice(1)}"`);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon !== -1) {
      path = rest.slice(0, colon);
      ref = rest.slice(colon + 1);
      if (ref === '') ref = undefined;
      else if (!refNameRe.test(ref)) throw invalid(input, `invalid reference name "${ref}"`);
    }
  }
  if (path === '') throw invalid(input, 'missing path');
  return { path, ref };
}

function parseTransport(input: string): TransportName {
  const s = input.trim();
  if (s === '') throw invalid(input, 'empty');
  if (s.startsWith('docker://')) {
    const name = s.slice('docker://'.length);
    if (name === '') throw invalid(input, 'missing image name after docker://');
    return { transport: 'docker', reference: parseReference(name) };
  }
  const m = /^([a-z][a-z0-9-]*):(.*)$/.exec(s);
  if (m) {
    const [, prefix = '', rest = ''] = m;
    if (prefix === 'oci' || prefix === 'oci-archive') return { transport: prefix, ...splitPathRef(input, rest) };
    if (prefix === 'docker') throw invalid(input, 'the docker transport is written docker://NAME');
    if (prefix === 'docker-archive') {
      // As skopeo splits it: the path ends at the first colon, the rest is a docker reference.
      const colon = rest.indexOf(':');
      const path = colon === -1 ? rest : rest.slice(0, colon);
      if (path === '') throw invalid(input, 'missing path');
      return { transport: 'docker-archive', path, reference: colon === -1 ? undefined : parseReference(rest.slice(colon + 1)) };
    }
    if (unsupported.has(prefix)) throw invalid(input, `the ${prefix}: transport is not supported`);
  }
  // registry:5000/name and name:tag also match the prefix pattern; they are plain references.
  try {
    return { transport: 'local', reference: parseReference(s) };
  } catch (err) {
    if (m) throw invalid(input, `unknown transport "${m[1]}:" and not an image name either`);
    throw err;
  }
}

export function parseSource(s: string): TransportName {
  const t = parseTransport(s);
  if (t.transport === 'docker-archive') throw invalid(s, 'reading docker-archive: is not supported (only writing)');
  return t;
}

export function parseDestination(s: string): TransportName {
  return parseTransport(s);
}

export function formatTransportName(t: TransportName): string {
  switch (t.transport) {
    case 'oci':
    case 'oci-archive':
      return `${t.transport}:${t.path}${t.ref ? `:${t.ref}` : ''}`;
    case 'docker':
      return `docker://${t.reference.toString()}`;
    case 'docker-archive':
      return `docker-archive:${t.path}${t.reference ? `:${t.reference.familiar}` : ''}`;
    case 'local':
      return t.reference.toString();
  }
}
