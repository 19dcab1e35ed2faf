// The node-http-proxy peer, the usual minimal way: one proxy server with a fixed target and a
// keep-alive agent, node:http in front, a 502 when the upstream fails. argv[2]: the backend's URL.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { announce } from './serve.ts';

const target = process.argv[2]!;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const proxy = httpProxy.createProxyServer({ target, agent });
proxy.on('error', function answerBadGateway(_error, _req, res) {
  if (!(res instanceof http.ServerResponse)) return void res.destroy();
  if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
  res.end('bad gateway');
});

const server = http.createServer(function forward(req, res) {
  proxy.web(req, res);
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  announce({ url: `http://127.0.0.1:${port}`, paths: {} }, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    agent.destroy();
  });
});
