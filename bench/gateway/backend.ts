// The one upstream every target forwards to: about the least a Node JSON endpoint does (node:http,
// keep-alive, a ~60-byte body). The body depends only on the path, so a body read through a proxy
// can be compared byte for byte with the one read directly. It keeps a reference to the last
// request's headers and shows them on GET /__last-headers, for the check that the gateway's trace
// headers and request id arrive.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { announce } from './serve.ts';

const LAST_HEADERS = '/__last-headers';
let lastHeaders: http.IncomingHttpHeaders = {};

// Longer than every proxy's idle upstream timeout (undici 30 s, nginx 60 s), so no proxy reuses a
// connection the backend is closing at that moment.
const server = http.createServer({ keepAliveTimeout: 65_000 }, function answer(req, res) {
  const url = req.url ?? '/';
  if (url === LAST_HEADERS) return send(res, JSON.stringify(lastHeaders));
  lastHeaders = req.headers;
  const id = Number(url.slice(url.lastIndexOf('/') + 1)) || 0;
  send(res, JSON.stringify({ ok: true, id, service: 'bench-backend', region: 'loopback' }));
});

function send(res: http.ServerResponse, body: string) {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  announce({ url: `http://127.0.0.1:${port}`, paths: { lastHeaders: LAST_HEADERS } }, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
