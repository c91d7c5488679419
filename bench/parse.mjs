#!/usr/bin/env node
/**
 * Parse benchmark: a generated 5,000-line Dockerfile (10 stages, every common instruction,
 * continuations, heredocs, JSON forms), timed through parseDockerfile + resolveBuildGraph.
 * A benchmark, not a timed test:   npm run bench:parse   (prints the median of 20 runs, ms)
 */
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function generateDockerfile(lines = 5000) {
  const out = ['# syntax=docker/dockerfile:1', 'ARG BASE=debian:12', 'ARG VERSION=1.0'];
  const stages = 10;
  const perStage = Math.ceil(lines / stages);
  for (let s = 0; s < stages; s++) {
    out.push(s === 0 ? 'FROM ${BASE} AS stage0' : `FROM stage${s - 1} AS stage${s}`);
    out.push('ARG VERSION', `ENV APP_HOME=/opt/app${s} PATH=/opt/app${s}/bin:$PATH`);
    let n = 0;
    while (n < perStage - 3) {
      switch (n % 12) {
        case 0:
          out.push(`RUN apt-get update \\`, `    && apt-get install -y --no-install-recommends pkg${n} \\`, '    # a comment inside the continuation', `    && rm -rf /var/lib/apt/lists/*`);
          n += 4;
          break;
        case 4:
          out.push(`COPY --chown=1000:1000 --chmod=0644 src/${n}/ $APP_HOME/${n}/`);
          n++;
          break;
        case 5:
          out.push(`LABEL org.example.n${n}="value ${n}" version=\${VERSION:-dev}`);
          n++;
          break;
        case 6:
          out.push(`RUN <<EOF`, `echo heredoc ${n}`, `echo "\${VERSION}"`, 'EOF');
          n += 4;
          break;
        case 10:
          out.push(s > 1 ? `COPY --from=stage${s - 2} /opt/app${s - 2}/${n} /opt/imported/` : `WORKDIR /work/${n}`);
          n++;
          break;
        case 11:
          out.push(`CMD ["/opt/app/bin/run", "--n", "${n}"]`);
          n++;
          break;
        default:
          out.push(`ENV K${n}="v ${n}" L${n}=$APP_HOME/${n}`);
          n++;
      }
    }
  }
  return `${out.slice(0, lines).join('\n')}\n`;
}

async function main() {
  const root = resolve(fileURLToPath(import.meta.url), '../..');
  // Run with vite-node (npm run ...), which compiles src/ on the fly: no stale dist/.
  const load = (p) => import(pathToFileURL(join(root, 'src', p.replace(/\.js$/, '.ts'))).href);
  const [{ parseDockerfile }, { resolveBuildGraph }] = await Promise.all([load('dockerfile/parseDockerfile.js'), load('graph/buildGraph.js')]);
  const [lines = 5000] = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
  const text = generateDockerfile(lines);
  const once = () => {
    const t0 = performance.now();
    const ast = parseDockerfile(text);
    const graph = resolveBuildGraph(ast, { buildArgs: new Map() });
    return { ms: performance.now() - t0, stages: graph.stages.length, instructions: ast.stages.reduce((n, s) => n + s.instructions.length + 1, 0) };
  };
  const first = once();
  const runs = Array.from({ length: 20 }, () => once().ms).sort((a, b) => a - b);
  console.log(
    `parse + resolve of a ${text.split('\n').length - 1}-line Dockerfile (${first.instructions} instructions, ${first.stages} stages, ${(text.length / 1024).toFixed(0)} KiB): ` +
      `first run ${first.ms.toFixed(1)} ms, median ${runs[10].toFixed(1)} ms, best ${runs[0].toFixed(1)} ms`,
  );
}

await main();
