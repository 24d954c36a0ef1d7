import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { v2 as webdav } from 'webdav-server';
import { close, listen } from './http.js';

/** What the WebDAV server saw of one request (before its body). */
export interface DavSeen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface DavServer {
  /** Base URL of the server; the store is at `${url}/remote.php`. */
  url: string;
  seen: DavSeen[];
  server: Server;
  close(): Promise<void>;
}

/**
 * A real WebDAV server (webdav-server, an in-memory store) under `/remote.php`, like a Nextcloud
 * endpoint, that accepts only HTTP Basic `user:password` and records what it receives.
 */
export async function startDavServer(user = 'foo', password = 'bar'): Promise<DavServer> {
  const users = new webdav.SimpleUserManager();
  const account = users.addUser(user, password, false);
  const privileges = new webdav.SimplePathPrivilegeManager();
  privileges.setRights(account, '/', ['all']);
  const dav = new webdav.WebDAVServer(
    Object.assign(new webdav.WebDAVServerOptions(), {
      httpAuthentication: new webdav.HTTPBasicAuthentication(users, 'dav'),
      privilegeManager: privileges,
    }),
  );
  // Typed `any` by the library: (request, response, rootPath).
  const execute = dav.executeRequest as (req: unknown, res: unknown, rootPath: string) => void;
  const seen: DavSeen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const url = req.url ?? '';
    if (url !== '/remote.php' && !url.startsWith('/remote.php/')) {
      res.writeHead(404).end();
      return;
    }
    req.url = url.slice('/remote.php'.length) || '/';
    execute(req, res, '/remote.php');
  });
  const url = await listen(server);
  return { url, seen, server, close: () => close(server) };
}
