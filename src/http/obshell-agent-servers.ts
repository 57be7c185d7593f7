// The listeners of the OBShell agents (src/service/obshell-agents.ts): one HTTP server per
// cluster's port, each handing its requests to the same Fastify app as the main port (so rate
// limits, input guards, logs and metrics are the same), tagged with the port they arrived on. The
// OBShell routes serve only tagged requests, and a tagged request reaches nothing else.
import { lookup } from 'node:dns/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AgentListeners } from '../service/obshell-agents.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** a route an OBShell agent's port serves (the OBShell family's); every other route is refused there */
    obshellAgent?: boolean;
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const agentPorts = new WeakMap<IncomingMessage, number>();

/** The OBShell agent port a request arrived on; undefined for the main port (and app.inject). */
export function agentPortOf(raw: IncomingMessage): number | undefined {
  return agentPorts.get(raw);
}

export class AgentServers implements AgentListeners {
  /** each port's servers: one per address of the host (`localhost` is 127.0.0.1 and ::1), as Fastify does */
  private readonly servers = new Map<number, http.Server[]>();

  constructor(
    private readonly handler: () => Handler,
    private readonly host: string,
    private readonly onClientError: (err: Error, socket: Socket) => void,
  ) {}

  async bind(port: number): Promise<number | null> {
    const addresses = await this.addresses();
    const first = await this.listenOn(addresses[0]!, port);
    if (!first) return null;
    const bound = (first.address() as { port: number }).port;
    const all = [first];
    for (const address of addresses.slice(1)) {
      // a second address of the host that is taken or missing does not stop the first serving
      const more = await this.listenOn(address, bound).catch(() => null);
      if (more) all.push(more);
    }
    this.servers.set(bound, all);
    return bound;
  }

  async release(port: number): Promise<void> {
    const servers = this.servers.get(port) ?? [];
    this.servers.delete(port);
    await Promise.all(
      servers.map((server) => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        return closed;
      }),
    );
  }

  bound(): number[] {
    return [...this.servers.keys()];
  }

  private async addresses(): Promise<string[]> {
    if (this.host !== 'localhost') return [this.host];
    const found = await lookup(this.host, { all: true }).catch(() => []);
    return found.length > 0 ? [...new Set(found.map((a) => a.address))] : ['127.0.0.1'];
  }

  private listenOn(address: string, port: number): Promise<http.Server | null> {
    let bound = port;
    const server = http.createServer((req, res) => {
      agentPorts.set(req, bound);
      this.handler()(req, res);
    });
    server.keepAliveTimeout = 72_000; // as Fastify's own server
    server.on('clientError', (err, socket) => this.onClientError(err, socket as Socket));
    return new Promise((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => {
        // in use by another process, or a privileged port for an unprivileged one: not ours to take
        if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(null);
        else reject(err);
      };
      server.once('error', failed);
      server.listen({ port, host: address, exclusive: true }, () => {
        server.off('error', failed);
        bound = (server.address() as { port: number }).port;
        resolve(server);
      });
    });
  }
}
