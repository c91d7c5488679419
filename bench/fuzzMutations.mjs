/**
 * The Dockerfile mutator shared by `npm run fuzz` (bench/fuzz-dockerfile.mjs, 100,000+ inputs)
 * and test/unit/dockerfile/fuzz.conformance.test.ts (a bounded seeded sample in npm test).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A small seeded PRNG (mulberry32): the same seed gives the same inputs on every machine. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SNIPPETS = [
  'FROM ', 'FROM scratch AS x\n', 'RUN ', 'COPY ', 'ADD ', 'ARG ', 'ENV ', 'ONBUILD ', 'HEALTHCHECK ', 'SHELL ', 'CMD ', 'ENTRYPOINT ',
  'LABEL ', 'EXPOSE ', 'VOLUME ', 'USER ', 'WORKDIR ', 'STOPSIGNAL ', 'MAINTAINER ', ' AS ', ' as ',
  '--from=', '--chown=', '--chmod=', '--mount=type=cache,target=/x', '--mount=', '--network=none', '--platform=$BUILDPLATFORM', '--link', '--exclude=',
  '--interval=', '--retries=', '--', '=', '"', "'", '\\', '\\\n', '`', '\n', '\r\n', '\t', ' ', '#', '# escape=`\n', '# syntax=x\n', '# check=skip=all\n',
  '<<EOF', '<<-EOF', "<<'EOF'", '<<"EOF"', '\nEOF\n', 'EOF', '<<', '$', '${', '}', '${A:-', '${A#', '${A/', '$(', '[', ']', '["a", "b"]', '[', ',', '{', '\u0000', '\uFEFF', 'é',
];

/** One mutation of `text`, picked with `rnd`. */
export function mutate(text, rnd) {
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const pos = () => Math.floor(rnd() * (text.length + 1));
  switch (Math.floor(rnd() * 7)) {
    case 0: {
      // Byte flips, a few at once.
      const chars = [...text];
      for (let n = 1 + Math.floor(rnd() * 4); n > 0 && chars.length > 0; n--) {
        const i = Math.floor(rnd() * chars.length);
        chars[i] = String.fromCharCode((chars[i].charCodeAt(0) ^ (1 << Math.floor(rnd() * 7))) & 0xffff);
      }
      return chars.join('');
    }
    case 1: {
      const lines = text.split('\n');
      for (let i = lines.length - 1; i > 0; i--) {
        if (rnd() < 0.3) {
          const j = Math.floor(rnd() * (i + 1));
          [lines[i], lines[j]] = [lines[j], lines[i]];
        }
      }
      return lines.join('\n');
    }
    case 2:
      return text.slice(0, pos());
    case 3: {
      let out = text;
      for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
        const at = Math.floor(rnd() * (out.length + 1));
        out = out.slice(0, at) + pick(SNIPPETS) + out.slice(at);
      }
      return out;
    }
    case 4: {
      // Delete a span.
      const a = pos();
      return text.slice(0, a) + text.slice(a + Math.floor(rnd() * 40));
    }
    case 5: {
      // Duplicate a line somewhere else.
      const lines = text.split('\n');
      const line = pick(lines) ?? '';
      lines.splice(Math.floor(rnd() * (lines.length + 1)), 0, line);
      return lines.join('\n');
    }
    default: {
      // Keyword soup at a line start.
      const lines = text.split('\n');
      const i = Math.floor(rnd() * (lines.length + 1));
      lines.splice(i, 0, `${pick(SNIPPETS)}${pick(SNIPPETS)}${pick(SNIPPETS)}`);
      return lines.join('\n');
    }
  }
}

/** Every Dockerfile of the conformance corpus (parser testfiles, real and multi-stage files). */
export function loadCorpus(conformanceDir) {
  const out = [];
  const walk = (dir) => {
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === 'Dockerfile' || name.endsWith('.Dockerfile')) out.push(readFileSync(p, 'utf8'));
    }
  };
  for (const sub of ['buildkit-parser/testfiles', 'buildkit-parser/testfiles-negative', 'real-dockerfiles', 'multistage-dockerfiles']) walk(join(conformanceDir, sub));
  return out;
}

/** The i-th input of a run: a corpus file with 1–3 stacked mutations. */
export function* inputs(corpus, count, seed) {
  const rnd = mulberry32(seed);
  for (let i = 0; i < count; i++) {
    let text = corpus[Math.floor(rnd() * corpus.length)];
    for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) text = mutate(text, rnd);
    yield text;
  }
}

/**
 * Runs parse + resolve on one input: 'accepted', 'rejected' (a DockerfileError, as it should),
 * or { crash: error } for anything else.
 */
export function checkInput(text, api) {
  try {
    const ast = api.parseDockerfile(text, { file: 'Dockerfile' });
    api.resolveBuildGraph(ast, { buildArgs: new Map([['V', '1']]), builtinArgs: new Map([['TARGETARCH', 'amd64']]) });
    return 'accepted';
  } catch (err) {
    if (err instanceof api.DockerfileError && err.range.start.line >= 1) return 'rejected';
    return { crash: err };
  }
}

