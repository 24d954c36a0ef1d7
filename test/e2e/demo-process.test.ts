import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from '../helpers/http.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

interface RunningDemo {
  child: ChildProcess;
  url: string;
  output(): { stdout: string; stderr: string };
}

/** `npm run demo`, as the README says, on a free port; resolves once it prints its address. */
async function runDemo(redisUrl: string): Promise<RunningDemo> {
  const child = spawn('npm', ['run', 'demo'], {
    cwd: repo,
    env: { ...process.env, PORT: '0', REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const address = /demo on (http:\/\/localhost:\d+)/.exec(stdout)?.[1];
      if (address !== undefined) resolve(address);
    });
    child.once('exit', (code) => {
      reject(new Error(`demo exited (${code}) before listening: ${stdout}${stderr}`));
    });
  });
  return { child, url, output: () => ({ stdout, stderr }) };
}

/** The processes below `pid` (npm, the shell if any, node, esbuild...), read from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (command) state ppid ...": the command may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for processes that are not our children to go (no event tells): polls, with a deadline. */
async function gone(pids: number[], withinMs: number): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  let left = pids.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await delay(20);
    left = left.filter(alive);
  }
  return left;
}

/**
 * For a failed test: SIGKILL is not forwarded, so every process of the tree gets it, those seen
 * earlier included (orphans no longer descend from npm).
 */
function killTree(pid: number, seen: number[]): void {
  for (const each of new Set([pid, ...seen, ...descendants(pid)])) {
    try {
      process.kill(each, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

const onLinux = process.platform === 'linux';

describe('npm run demo', { skip: !onLinux && 'reads the process tree from /proc' }, () => {
  it('keeps sessions in memory with an empty REDIS_URL, and SIGTERM stops all it started', async () => {
    const demo = await runDemo('');
    const pid = demo.child.pid ?? 0;
    const tree = descendants(pid);
    try {
      assert.match(demo.output().stdout, /\(sessions: memory\)/);
      assert.equal((await request(`${demo.url}/`)).status, 200);
      assert.ok(tree.length > 0, 'npm started nothing');
      const exited = once(demo.child, 'exit');
      process.kill(pid, 'SIGTERM');
      await exited;
      assert.deepEqual(await gone(tree, 10_000), [], 'processes left running');
      await assert.rejects(request(`${demo.url}/`), { code: 'ECONNREFUSED' });
      assert.equal(demo.output().stderr, '');
    } finally {
      killTree(pid, tree);
    }
  });

  it('says once that Redis does not answer, and shows its own error page, never a stack', async () => {
    const port = await closedPort();
    const demo = await runDemo(`redis://:hunter2@127.0.0.1:${port}/0`);
    const pid = demo.child.pid ?? 0;
    const tree = descendants(pid);
    try {
      // The login form needs no session; logging in stores one.
      assert.equal((await request(`${demo.url}/`)).status, 200);
      for (let attempt = 0; attempt < 2; attempt++) {
        const login = await request(`${demo.url}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'username=alice&password=wonderland',
        });
        assert.equal(login.status, 503);
        assert.match(login.body, /<h1 id="status">503 The session store cannot be reached<\/h1>/);
        assert.match(login.body, /ERR_STORE_UNAVAILABLE/);
        assert.doesNotMatch(login.body, /\n\s+at |Error:/);
      }
      const exited = once(demo.child, 'exit');
      process.kill(pid, 'SIGTERM');
      await exited;
      const { stdout, stderr } = demo.output();
      const lines = stderr.split('\n').filter((line) => line !== '');
      assert.equal(lines.length, 1, stderr);
      assert.match(
        lines[0] ?? '',
        new RegExp(`^demo: Redis at 127\\.0\\.0\\.1:${port} does not answer`),
      );
      assert.ok(!`${stdout}${stderr}`.includes('hunter2'), 'the Redis password was printed');
      assert.doesNotMatch(`${stdout}${stderr}`, /\n\s+at /);
    } finally {
      killTree(pid, tree);
    }
  });
});
