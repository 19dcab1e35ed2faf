// The monitor's HTTP routes (on top of the kit's /health and /metrics):
//   GET /events     text/event-stream: `snapshot` first, then every `transition`, `: ping` every
//                   KEEPALIVE_MS (types.ts describes the feed)
//   GET /instances  the snapshot as JSON
import type { FastifyInstance } from 'fastify';
import { formatComment, formatEvent, KEEPALIVE_MS } from './event-stream.ts';
import type { Monitor } from './monitor.ts';

export interface FeedRouteOptions {
  keepAliveMs?: number;
  /**
   * A client that lets this much pile up unread (a SIGSTOPped gateway) is cut off instead of
   * growing our memory; it gets a fresh snapshot when it reconnects.
   */
  maxBufferedBytes?: number;
}

export function registerMonitorRoutes(app: FastifyInstance, monitor: Monitor, options: FeedRouteOptions = {}): void {
  const keepAliveMs = options.keepAliveMs ?? KEEPALIVE_MS;
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  const clients = new Set<{ send(text: string): void; end(): void }>();
  let keepAlive: NodeJS.Timeout | undefined;

  app.get('/instances', async () => monitor.snapshot());

  app.get('/events', (request, reply) => {
    // The response outlives the handler: Fastify must not send or log it.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    });
    const client = {
      send(text: string) {
        if (res.destroyed || res.writableEnded) return;
        if (res.writableLength > maxBufferedBytes) {
          request.log.warn({ buffered: res.writableLength }, 'monitor feed client not reading: disconnected');
          res.destroy();
          return;
        }
        res.write(text);
      },
      end() {
        res.end();
        // A client that does not read (a SIGSTOPped gateway) would keep the response, and the
        // server's close, open: give it a moment to take the end, then cut it.
        setTimeout(() => res.destroy(), 1000).unref();
      },
    };
    // Snapshot and subscription in one synchronous step: no transition can fall between them.
    client.send(formatEvent('snapshot', monitor.snapshot()));
    const unsubscribe = monitor.subscribe((transition) => client.send(formatEvent('transition', transition)));
    clients.add(client);
    keepAlive ??= setInterval(() => {
      for (const c of clients) c.send(formatComment('ping'));
    }, keepAliveMs);
    res.once('close', () => {
      unsubscribe();
      clients.delete(client);
      if (clients.size === 0) {
        clearInterval(keepAlive);
        keepAlive = undefined;
      }
    });
  });

  // Open feeds would hold server.close() forever: end them before the server stops listening.
  app.addHook('preClose', async () => {
    for (const client of clients) client.end();
  });
}
