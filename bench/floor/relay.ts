/**
 * The floor: the least a Node relay can do per token on this machine. Each request is forwarded to
 * the upstream over a keep-alive agent and the answer's bytes are piped back as they arrive, with
 * no parsing, no JSON, no transform: one socket read and one socket write per upstream chunk, what
 * every Node gateway pays before it does anything of its own. Its CPU per 1,000 tokens, measured in
 * the same run as the gateways, is the bound under which none of them can go.
 *
 * Bench only (not the product): started by bench/lib/scenarios.ts with BENCH_HOST, BENCH_PORT and
 * BENCH_UPSTREAM (host:port).
 */
import http from 'node:http';

const host = process.env.BENCH_HOST ?? '127.0.0.1';
const port = Number(process.env.BENCH_PORT);
const [upstreamHost, upstreamPort] = (process.env.BENCH_UPSTREAM ?? '').split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.end('ok');
    return;
  }
  const upstream = http.request(
    {
      host: upstreamHost,
      port: Number(upstreamPort),
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: `${upstreamHost}:${upstreamPort}` },
      agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  res.on('close', () => upstream.destroy());
  req.pipe(upstream);
});
server.listen(port, host);
