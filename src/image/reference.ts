import { TsbuildError } from '../errors.js';

/**
 * Image references with docker's normalisation (distribution/reference): a name without a
 * registry lives on docker.io, a single-component docker.io name lives under `library/`, and
 * a name without tag or digest means `:latest`.
 */
export interface ImageReference {
  /** Registry host[:port] as written; `docker.io` for Docker Hub. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `library/alpine`. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
  /** `registry/repository` without tag or digest. */
  readonly name: string;
  /** Docker's short spelling, e.g. `alpine:latest`, `localhost:5000/x:1`. */
  readonly familiar: string;
  /** The full normalised name, e.g. `docker.io/library/alpine:latest`. */
  toString(): string;
}

export const DOCKER_HUB = 'docker.io';
/** Docker Hub's API host: `docker.io` itself serves no registry API. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

const MAX_NAME_LENGTH = 255;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainRe = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?$`);
const pathComponentRe = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const knownDigestRe: Record<string, RegExp> = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };
const bareIdRe = /^[a-f0-9]{64}$/;

function invalid(input: string, detail: string): TsbuildError {
  return new TsbuildError('REFERENCE_INVALID', `parsing image reference "${input}": ${detail}`, {
    hint: 'a reference looks like [registry[:port]/]repository[:tag][@sha256:<64 hex>], with a lowercase repository',
  });
}

/** docker's splitDockerDomain: the first component is a registry only if it looks like a host. */
function splitDomain(name: string): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  let registry: string;
  let repository: string;
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (
    slash === -1 ||
    (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first)
  ) {
    registry = DOCKER_HUB;
    repository = name;
  } else {
    registry = first;
    repository = name.slice(slash + 1);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository };
}

export function validateDigest(digest: string, input = digest): string {
  if (!digestRe.test(digest)) throw invalid(input, `invalid digest "${digest}"`);
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const re = knownDigestRe[algorithm];
  if (!re) throw invalid(input, `unsupported digest algorithm "${algorithm}"`);
  if (!re.test(hex)) throw invalid(input, `invalid ${algorithm} digest "${digest}"`);
  return digest;
}

export function parseReference(input: string): ImageReference {
  const s = input.trim();
  if (s === '') throw invalid(input, 'empty reference');
  if (bareIdRe.test(s)) {
    throw invalid(input, 'a 64-character hexadecimal string is an image id, not a repository name');
  }
  if (s.includes('://')) throw invalid(input, 'a reference has no URL scheme');

  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = validateDigest(rest.slice(at + 1), input);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) {
      throw invalid(
        input,
        tag.length > 128 ? 'tag is longer than 128 characters' : `invalid tag "${tag}" (letters, digits, '_', '.', '-'; not starting with '.' or '-')`,
      );
    }
  }
  if (rest === '') throw invalid(input, 'missing repository name');
  if (rest.length > MAX_NAME_LENGTH) throw invalid(input, `repository name is longer than ${MAX_NAME_LENGTH} characters`);

  const { registry, repository } = splitDomain(rest);
  if (!domainRe.test(registry)) throw invalid(input, `invalid registry host "${registry}"`);
  for (const component of repository.split('/')) {
    if (pathComponentRe.test(component)) continue;
    if (component !== '' && pathComponentRe.test(component.toLowerCase())) {
      throw invalid(input, 'repository name must be lowercase');
    }
    throw invalid(input, `invalid repository name component "${component}"`);
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  return makeReference(registry, repository, tag, digest);
}

export function makeReference(
  registry: string,
  repository: string,
  tag: string | undefined,
  digest: string | undefined,
): ImageReference {
  const name = `${registry}/${repository}`;
  const suffix = `${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  let familiarName = name;
  if (registry === DOCKER_HUB) {
    familiarName = repository.startsWith('library/') && repository.split('/').length === 2 ? repository.slice(8) : repository;
  }
  const full = `${name}${suffix}`;
  return {
    registry,
    repository,
    tag,
    digest,
    name,
    familiar: `${familiarName}${suffix}`,
    toString: () => full,
  };
}

/** The same image pinned to a digest (the tag is dropped, as `docker pull name@digest` shows). */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  return makeReference(ref.registry, ref.repository, undefined, validateDigest(digest));
}

export function withTag(ref: ImageReference, tag: string): ImageReference {
  if (!tagRe.test(tag)) throw invalid(tag, `invalid tag "${tag}"`);
  return makeReference(ref.registry, ref.repository, tag, undefined);
}

/** The host[:port] to speak the registry API to. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}
