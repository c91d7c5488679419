import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** What the proxy does with one request. */
export type Fault =
  | { kind: 'pass' }
  /** Close the client's connection before any response. */
  | { kind: 'reset' }
  /** Answer this status without asking the registry (500, 503, 429 …). */
  | { kind: 'status'; status: number; retryAfter?: string }
  /** Hold the request forever: the client's idle timeout must fire. */
  | { kind: 'stall' }
  /** Forward the request body until this many bytes went through, then cut both connections. */
  | { kind: 'cutUpload'; afterBytes: number }
  /** Forward the response body until this many bytes went through, then cut the client's connection. */
  | { kind: 'cutDownload'; afterBytes: number };

export interface ProxyLogEntry {
  method: string;
  /** Path and query, as the client sent them. */
  url: string;
  fault: Fault['kind'];
  /** The status the client saw, when it saw one. */
  status?: number;
}

export interface FaultProxy {
  /** 127.0.0.1:PORT, to use as the registry host in image references. */
  host: string;
  log: ProxyLogEntry[];
  /** Decides each request's fault; `n` counts the requests matching method + path pattern so far, from 1. */
  setFaults(decide: (req: { method: string; url: string; n: number }) => Fault): void;
  stop(): Promise<void>;
}

/**
 * An HTTP proxy on loopback between a client and a test registry that injects failures:
 * resets, error statuses, 429 with Retry-After, stalls, connections cut mid-upload or
 * mid-download. The Host header is passed through, so the registry's upload Locations point
 * back at the proxy.
 */
export async function startFaultProxy(upstreamHost: string): Promise<FaultProxy> {
  const log: ProxyLogEntry[] = [];
  const counts = new Map<string, number>();
  let decide: (req: { method: string; url: string; n: number }) => Fault = () => ({ kind: 'pass' });
  const open = new Set<IncomingMessage>();
  const [upHost, upPort] = upstreamHost.split(':') as [string, string];

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    open.add(req);
    req.on('close', () => open.delete(req));
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const key = `${method} ${url.split('?')[0]!.replace(/[0-9a-f-]{36}/, 'UUID')}`;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    const fault = decide({ method, url, n });
    const entry: ProxyLogEntry = { method, url, fault: fault.kind };
    log.push(entry);
    switch (fault.kind) {
      case 'reset':
        req.socket.destroy();
        return;
      case 'stall':
        req.resume();
        return;
      case 'status': {
        req.resume();
        entry.status = fault.status;
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        if (fault.retryAfter !== undefined) headers['Retry-After'] = fault.retryAfter;
        res.writeHead(fault.status, headers).end(JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected HTTP ${fault.status}` }] }));
        return;
      }
      default:
        break;
    }
    const up = httpRequest(
      { host: upHost, port: Number(upPort), method, path: url, headers: req.headers },
      (upRes) => {
        entry.status = upRes.statusCode;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (fault.kind === 'cutDownload') {
          let seen = 0;
          upRes.on('data', (chunk: Buffer) => {
            if (seen + chunk.length >= fault.afterBytes) {
              res.write(chunk.subarray(0, Math.max(0, fault.afterBytes - seen)));
              seen = fault.afterBytes;
              upRes.destroy();
              setImmediate(() => res.socket?.destroy());
              return;
            }
            seen += chunk.length;
            res.write(chunk);
          });
          upRes.on('end', () => res.end());
          return;
        }
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.socket?.destroy());
    if (fault.kind === 'cutUpload') {
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        if (seen + chunk.length >= fault.afterBytes) {
          up.write(chunk.subarray(0, Math.max(0, fault.afterBytes - seen)));
          seen = fault.afterBytes;
          req.pause();
          // The registry sees a body that ends early; the client sees its connection die.
          setTimeout(() => {
            up.destroy();
            req.socket.destroy();
          }, 50);
          return;
        }
        seen += chunk.length;
        up.write(chunk);
      });
      req.on('end', () => up.end());
      return;
    }
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    log,
    setFaults(d) {
      decide = d;
      counts.clear();
    },
    async stop() {
      for (const req of open) req.socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
