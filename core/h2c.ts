/**
 * HTTP/1.1 and cleartext HTTP/2 (h2c, "prior knowledge") on one port, so gRPC clients and
 * browsers reach the same routes the way they reach Pyroscope's HTTP port.
 *
 * Node's HTTP/2 server without TLS cannot fall back to HTTP/1.1, so each new connection is
 * sniffed: one that opens with the HTTP/2 connection preface goes to an HTTP/2 server, anything
 * else to the HTTP/1 server. Both run the same request handler (Fastify's). The returned server
 * is the HTTP/1 one, so everything that manages it (listen, close, idle connections) is unchanged.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** A connection that sends nothing at all is dropped after this long. */
const SNIFF_TIMEOUT_MS = 30_000;

type Handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

export function createH2cServer(handler: Handler, options: http.ServerOptions = {}, h2Options: { idleMs?: number } = {}): http.Server {
  const server = http.createServer(options, handler as (req: IncomingMessage, res: ServerResponse) => void);
  const h2 = http2.createServer({}, handler as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
  // HTTP/2 has no request deadlines of its own: a session that carries nothing for this long
  // (a stalled stream included) is closed.
  if (h2Options.idleMs) h2.setTimeout(h2Options.idleMs);
  const sessions = new Set<ServerHttp2Session>();
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const sniffing = new Set<Socket>();

  const http1 = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    sniffing.add(socket);
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
    timer.unref();
    const onError = (): void => {
      cleanup();
      socket.destroy();
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      sniffing.delete(socket);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('end', onError);
      socket.removeListener('close', cleanup);
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(seen.length, PREFACE.length);
      const h2c = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (h2c && seen.length < PREFACE.length) return;
      cleanup();
      socket.pause();
      socket.unshift(seen);
      if (h2c) {
        // The HTTP/2 session reads what was pushed back before it reads the socket itself.
        h2.emit('connection', socket);
      } else {
        for (const listener of http1) listener.call(server, socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.on('error', onError);
    // The HTTP server allows half-open sockets: a client that hangs up before sending anything
    // would otherwise hold this one until the timeout.
    socket.once('end', onError);
    socket.once('close', cleanup);
  });

  // Closing stops new connections; HTTP/2 sessions finish their streams and go, and connections
  // that never said anything are dropped, so that close() can complete.
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sniffing) s.destroy();
    for (const s of sessions) s.close();
    return close(cb);
  }) as typeof server.close;
  const closeAll = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    for (const s of sessions) s.destroy();
    closeAll();
  };
  return server;
}
