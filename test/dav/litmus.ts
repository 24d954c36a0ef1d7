// npm run test:dav: litmus, the WebDAV compliance suite, against Apache mod_dav directly, then
// through authProxy mounted at /dav (target /remote.php, so every URL is translated) and at
// /remote.php (the same path). Fails when a test that passes directly fails through a mount, or
// gains a warning there. litmus cannot send a cookie: a small relay in front of the proxy adds the
// session cookie, as a browser would.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import express from 'express';
import { authProxy, createSession, MemorySessionStore } from '../../lib/index.js';
import type { AuthProxy } from '../../lib/index.js';
import { close, listen } from '../helpers/http.js';
import { startApacheDav } from './apache-dav.js';

const USER = 'litmus';
const PASSWORD = 'litmus';

interface Outcome {
  result: 'pass' | 'fail' | 'skip' | 'other';
  warnings: string[];
  detail: string;
}

/** The results of one litmus run by `suite/N.name`. */
type Results = Map<string, Outcome>;

function litmus(url: string, credentials: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'litmus',
      ['-k', url, ...credentials],
      // litmus writes its debug.log and child.log into the working directory.
      { maxBuffer: 16 * 1024 * 1024, cwd },
      (err, stdout) => {
        // litmus exits non-zero when a test fails; its output is what matters.
        if (err !== null && stdout === '') reject(new Error('litmus did not run', { cause: err }));
        else resolve(stdout);
      },
    );
  });
}

/** Reads litmus's progress output: `N. name.... pass`, warnings and failures spanning lines. */
function parseLitmus(output: string): Results {
  const results: Results = new Map();
  let suite = '';
  let current: Outcome | undefined;
  for (const raw of output.split('\n')) {
    // litmus redraws each test line with carriage returns: the last drawing is the result.
    const line = raw.split('\r').pop() ?? '';
    const running = /^-> running `([^']+)'/.exec(line);
    if (running?.[1] !== undefined) {
      suite = running[1];
      continue;
    }
    const test = /^\s*(\d+)\.\s+(\S+?)\.*\s(.*)$/.exec(line);
    const more = /^\s+\.{3,}\s(.*)$/.exec(line);
    let rest: string;
    if (test?.[1] !== undefined && test[2] !== undefined) {
      current = { result: 'other', warnings: [], detail: '' };
      results.set(`${suite}/${test[1]}.${test[2]}`, current);
      rest = test[3] ?? '';
    } else if (more !== null && current !== undefined) {
      rest = more[1] ?? '';
    } else {
      if (current?.result === 'fail') current.detail += `\n${line}`;
      continue;
    }
    if (rest.startsWith('WARNING:')) current.warnings.push(rest.slice('WARNING:'.length).trim());
    else if (rest.startsWith('pass')) current.result = 'pass';
    else if (rest.startsWith('FAIL')) current.result = 'fail';
    else if (rest.startsWith('SKIPPED')) current.result = 'skip';
    if (!rest.startsWith('WARNING:')) current.detail = rest;
  }
  return results;
}

function summary(results: Results): string {
  const all = [...results.values()];
  const count = (result: Outcome['result']) => all.filter((o) => o.result === result).length;
  const warnings = all.reduce((n, o) => n + o.warnings.length, 0);
  return `${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped, ${warnings} warnings (of ${all.length})`;
}

/** What got worse through the proxy, one line per test. */
function regressions(direct: Results, proxied: Results): string[] {
  const lines: string[] = [];
  for (const [name, base] of direct) {
    const through = proxied.get(name);
    if (base.result === 'pass' && through?.result !== 'pass') {
      lines.push(
        `${name}: passes directly, ${through?.result ?? 'missing'}: ${through?.detail ?? ''}`,
      );
    }
    for (const warning of through?.warnings ?? []) {
      if (!base.warnings.includes(warning)) lines.push(`${name}: new warning: ${warning}`);
    }
  }
  return lines;
}

/** An HTTP relay to `target` that adds `cookie` to every request, as a logged-in browser would. */
async function cookieRelay(
  target: string,
  cookie: string,
): Promise<{ url: string; server: Server }> {
  const { hostname, port } = new URL(target);
  const server = createServer((req, res) => {
    const upstream = httpRequest(
      { hostname, port, method: req.method, path: req.url, headers: { ...req.headers, cookie } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return { url: await listen(server), server };
}

const apache = await startApacheDav(USER, PASSWORD);
const store = new MemorySessionStore();
const jwtKey = randomBytes(64);
const target = `${apache.url}/remote.php`;
const proxies: AuthProxy[] = [
  authProxy({ target, jwtKey, redis: store }),
  authProxy({ target, jwtKey, redis: store }),
];
const app = express();
app.use('/dav', proxies[0] as AuthProxy);
app.use('/remote.php', proxies[1] as AuthProxy);
const proxyServer = createServer(app);
const proxyUrl = await listen(proxyServer);
const session = await createSession(
  store,
  { sub: USER, username: USER, password: PASSWORD },
  { jwtKey, ttlSeconds: 3600 },
);
const relay = await cookieRelay(proxyUrl, `Authorization=${session.cookieValue}`);

const logs = mkdtempSync(join(tmpdir(), 'eap-litmus-'));
let checked = 0;
let failed = 0;
try {
  const runs: [string, string, string[]][] = [
    ['direct (Apache mod_dav, /remote.php)', `${target}/`, [USER, PASSWORD]],
    ['proxied, /dav -> /remote.php', `${relay.url}/dav/`, []],
    ['proxied, /remote.php -> /remote.php', `${relay.url}/remote.php/`, []],
  ];
  let direct: Results | undefined;
  for (const [name, url, credentials] of runs) {
    const results = parseLitmus(await litmus(url, credentials, logs));
    console.log(`litmus ${name}: ${summary(results)}`);
    if (direct === undefined) {
      direct = results;
      if (results.size === 0) throw new Error('litmus ran no test against Apache');
      continue;
    }
    const worse = regressions(direct, results);
    for (const line of worse) console.log(`  ${line}`);
    checked += [...direct.values()].filter((o) => o.result === 'pass').length;
    failed += new Set(worse.map((line) => line.split(':', 1)[0])).size;
  }
} finally {
  await close(relay.server);
  await close(proxyServer);
  await Promise.all(proxies.map((p) => p.close()));
  await apache.stop();
  rmSync(logs, { recursive: true, force: true });
}
// One line per test that passes directly, for each mount: does it pass through the proxy too?
console.log(`litmus: ${checked - failed} passed, ${failed} failed`);
if (failed > 0) process.exitCode = 1;
