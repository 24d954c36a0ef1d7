import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from './http.js';
import { authCookie, JWT_KEY } from './tokens.js';

const CLI = fileURLToPath(new URL('../../dist/server/cli.js', import.meta.url));

export interface CliServer {
  url: string;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts the built CLI with the test JWT key (from a file) and `args`, resolving once it says
 * where it listens.
 */
export async function serveCli(args: string[]): Promise<CliServer> {
  const dir = mkdtempSync(join(tmpdir(), 'eap-cli-'));
  const keyFile = join(dir, 'jwt.key');
  writeFileSync(keyFile, JWT_KEY);
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [CLI, '--jwt-key-file', keyFile, '--port', '0', '--access-log', 'off', ...args],
    { env: { PATH: process.env.PATH } },
  );
  child.stdout.resume();
  try {
    const { url, stderr } = await untilListening(child);
    return {
      url,
      stderr,
      async stop() {
        try {
          if (child.exitCode !== null) return child.exitCode;
          const exited = once(child, 'exit') as Promise<[number | null]>;
          child.kill('SIGTERM');
          return (await exited)[0];
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Starts the CLI with `args`, checks that `/readyz` answers 200 and that a request carrying the
 * session cookie of `sid` is proxied (200), then stops it and checks that it exited cleanly.
 */
export async function expectCliServes(args: string[], sid: string): Promise<void> {
  const server = await serveCli(args);
  try {
    assert.equal((await request(`${server.url}/readyz`)).status, 200);
    const cookie = authCookie(sid);
    assert.equal((await request(`${server.url}/x`, { headers: { cookie } })).status, 200);
  } finally {
    assert.equal(await server.stop(), 0);
  }
}

/**
 * Collects a CLI process's stderr and resolves with the URL of its "listening on" line; rejects
 * with what it printed if it exits first.
 */
export function untilListening(
  child: ChildProcessWithoutNullStreams,
): Promise<{ url: string; stderr: () => string }> {
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match?.[1] !== undefined) resolve({ url: match[1], stderr: () => stderr });
    });
    child.once('exit', (code) => {
      reject(new Error(`the CLI exited with ${String(code)}:\n${stderr}`));
    });
  });
}
