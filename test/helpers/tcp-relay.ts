import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

interface Link {
  client: Socket;
  upstream: Socket;
  /** What the client sent first (its handshake names the connection). */
  sent: string;
  held: Buffer[] | undefined;
}

/** A TCP relay in front of a server whose answers to chosen connections can be held back. */
export interface Relay {
  port: number;
  /**
   * Stops delivering the server's bytes to the live connections whose client sent `marker` (a
   * connection name, for instance), as a stalled network would. Returns the release.
   */
  hold(marker: string): () => void;
  close(): Promise<void>;
}

const SENT_KEPT = 4096;

export async function startRelay(targetPort: number): Promise<Relay> {
  const links = new Set<Link>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const link: Link = { client, upstream, sent: '', held: undefined };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (link.sent.length < SENT_KEPT) link.sent += chunk.toString('latin1');
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (link.held === undefined) client.write(chunk);
      else link.held.push(chunk);
    });
    const end = (): void => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hold(marker) {
      const chosen = [...links].filter((link) => link.sent.includes(marker));
      for (const link of chosen) link.held ??= [];
      return () => {
        for (const link of chosen) {
          const held = link.held ?? [];
          link.held = undefined;
          for (const chunk of held) link.client.write(chunk);
        }
      };
    },
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.upstream.destroy();
      }
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
