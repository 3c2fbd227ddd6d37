/**
 * Mounts Connect services on the shared HTTP server: Connect (JSON and binary), gRPC and
 * gRPC-Web on the same paths, the way Pyroscope serves them on its HTTP port.
 */
import type { ConnectRouter } from '@connectrpc/connect';
import { fastifyConnectPlugin } from '@connectrpc/connect-fastify';
import type { FastifyInstance } from 'fastify';
import { refuseUnparsableConnectBodies } from '../core/connect-parse-errors.ts';

const DEFAULT_READ_MAX_BYTES = 16 * 1024 * 1024;

export async function registerConnectRoutes(http: FastifyInstance, routes: Array<(router: ConnectRouter) => void>): Promise<void> {
  const readMaxBytes = Math.min(http.initialConfig.bodyLimit ?? DEFAULT_READ_MAX_BYTES, DEFAULT_READ_MAX_BYTES);
  // The plugin replaces the body parsers of its scope; encapsulation keeps the rest of the server's.
  await http.register(async (scope) => {
    // A body that is not the protobuf it claims to be is the client's mistake, not ours.
    refuseUnparsableConnectBodies(scope);
    await scope.register(fastifyConnectPlugin, {
      routes: (router) => routes.forEach((r) => r(router)),
      readMaxBytes,
      // Newer clients send fields this server does not know (e.g. async query options); they are
      // ignored, as in binary protobuf, rather than failing the request.
      jsonOptions: { ignoreUnknownFields: true },
    });
  });
}
