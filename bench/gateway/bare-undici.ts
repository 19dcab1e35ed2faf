// The floor of archlab's own stack: node:http in front of an undici Pool, nothing else — no routes,
// pools, retries, metrics or trace headers. The difference to archlab's row is what those features
// cost; the difference to nginx is what Node's HTTP server and client cost. argv[2]: the backend's URL.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { announce } from './serve.ts';

const upstream = new Pool(process.argv[2]!, { connections: 64, pipelining: 1 });

const server = http.createServer(async function forward(req, res) {
  try {
    const answer = await upstream.request({ path: req.url ?? '/', method: 'GET', headers: req.headers });
    const body = Buffer.from(await answer.body.arrayBuffer());
    const headers = answer.headers;
    delete headers.connection;
    delete headers['keep-alive'];
    delete headers['transfer-encoding'];
    res.writeHead(answer.statusCode, headers);
    res.end(body);
  } catch {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('bad gateway');
  }
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  announce({ url: `http://127.0.0.1:${port}`, paths: {} }, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await upstream.close();
  });
});
