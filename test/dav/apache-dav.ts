import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Apache httpd with mod_dav serving an empty store at `/remote.php`, behind HTTP Basic auth. */
export interface ApacheDav {
  /** Base URL; the store is at `${url}/remote.php/`. */
  url: string;
  stop(): Promise<void>;
}

const MODULES = '/usr/lib/apache2/modules';
// Apache refuses to run its workers as root: as root, they run as Debian's www-data.
const WORKER_USER = 'www-data';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

function config(dir: string, port: number, asRoot: boolean): string {
  const modules = [
    ['mpm_prefork_module', 'mod_mpm_prefork.so'],
    ['authn_core_module', 'mod_authn_core.so'],
    ['authn_file_module', 'mod_authn_file.so'],
    ['authz_core_module', 'mod_authz_core.so'],
    ['authz_user_module', 'mod_authz_user.so'],
    ['auth_basic_module', 'mod_auth_basic.so'],
    ['alias_module', 'mod_alias.so'],
    ['dav_module', 'mod_dav.so'],
    ['dav_fs_module', 'mod_dav_fs.so'],
  ];
  return `ServerRoot "${dir}"
Listen 127.0.0.1:${port}
ServerName 127.0.0.1
PidFile "${dir}/httpd.pid"
DefaultRuntimeDir "${dir}"
ErrorLog "${dir}/error.log"
LogLevel warn
${modules.map(([name, file]) => `LoadModule ${name} ${MODULES}/${file}`).join('\n')}
${asRoot ? `User ${WORKER_USER}\nGroup ${WORKER_USER}` : ''}
StartServers 2
MinSpareServers 2
MaxSpareServers 4
MaxRequestWorkers 16
DocumentRoot "${dir}/htdocs"
DavLockDB "${dir}/lock/DavLock"
Alias /remote.php "${dir}/dav"
<Directory "${dir}/dav">
  Dav On
  AuthType Basic
  AuthName "litmus"
  AuthUserFile "${dir}/htpasswd"
  Require valid-user
</Directory>
`;
}

/** Starts Apache on a free loopback port, in a fresh temporary directory it removes on stop. */
export async function startApacheDav(user: string, password: string): Promise<ApacheDav> {
  if (spawnSync('apache2', ['-v']).error !== undefined) {
    throw new Error('apache2 is not installed: `apt-get install -y apache2` (Debian/Ubuntu)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'eap-apache-'));
  for (const sub of ['htdocs', 'dav', 'lock']) mkdirSync(join(dir, sub));
  const sha1 = createHash('sha1').update(password).digest('base64');
  writeFileSync(join(dir, 'htpasswd'), `${user}:{SHA}${sha1}\n`);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    // The workers must reach the store through the directory mkdtemp made private.
    chmodSync(dir, 0o755);
    const ids = spawnSync('id', ['-u', WORKER_USER], { encoding: 'utf8' }).stdout.trim();
    const uid = Number(ids);
    for (const sub of ['dav', 'lock']) chownSync(join(dir, sub), uid, uid);
  }
  const port = await freePort();
  writeFileSync(join(dir, 'httpd.conf'), config(dir, port, asRoot));
  // Its own process group: on SIGTERM, Apache signals its whole group, which would otherwise be ours.
  const child: ChildProcess = spawn(
    'apache2',
    ['-d', dir, '-f', join(dir, 'httpd.conf'), '-DFOREGROUND'],
    { stdio: 'ignore', detached: true },
  );
  const exited = once(child, 'exit');
  // Apache says nothing when it is ready: wait until the port accepts, or the process exits.
  const state = { running: true };
  void exited.then(() => (state.running = false));
  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (!state.running || Date.now() > deadline) {
      child.kill('SIGKILL');
      let log = '';
      try {
        log = readFileSync(join(dir, 'error.log'), 'utf8');
      } catch {
        // no log written
      }
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`apache2 did not start:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      // SIGTERM: Apache stops its workers before exiting.
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
