/** What `-o/--output` asks for, parsed (src/cli/outputSpec.ts parses buildx's spelling). */

export interface ImageEncoding {
  compression?: 'gzip' | 'zstd';
  compressionLevel?: number;
  /** false: Docker schema2 media types; true: OCI; absent: the build's --format. */
  ociMediaTypes?: boolean;
}

export type ImageOutput =
  | ({ type: 'oci' | 'docker'; dest: string; tar: boolean } & ImageEncoding)
  | ({ type: 'registry'; names: string[] } & ImageEncoding);

export type FilesystemOutput = { type: 'tar' | 'local'; dest: string };

export type OutputSpec = ImageOutput | FilesystemOutput;

