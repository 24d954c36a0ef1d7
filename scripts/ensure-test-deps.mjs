#!/usr/bin/env node
// Runs before `npm test`: the tests start their own redis-server and drive Debian's Chromium,
// so both binaries must exist. With `--dav` (before `npm run test:dav`) it checks litmus and
// Apache (whose mod_dav litmus is compared against) instead; with `--ha` (before
// `npm run test:ha`), redis-server and redis-cli, which builds the cluster. On a Debian/Ubuntu machine where we
// are root (CI, a fresh dev container) they are installed; elsewhere the missing ones are named
// with how to install them.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const has = (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).error === undefined;
const chromium = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

const missing = [];
if (process.argv.includes('--dav')) {
  if (!has('litmus')) missing.push({ apt: 'litmus', brew: 'build litmus from source' });
  if (!has('apache2')) missing.push({ apt: 'apache2', brew: 'no Homebrew equivalent: use Debian' });
} else if (process.argv.includes('--ha')) {
  if (!has('redis-server')) missing.push({ apt: 'redis-server', brew: 'brew install redis' });
  // Debian ships redis-cli apart, in redis-tools (redis-server normally pulls it in).
  if (!has('redis-cli')) missing.push({ apt: 'redis-tools', brew: 'brew install redis' });
} else {
  if (!has('redis-server')) missing.push({ apt: 'redis-server', brew: 'brew install redis' });
  if (!chromium.some((path) => path !== undefined && existsSync(path))) {
    missing.push({
      apt: 'chromium',
      brew: 'brew install --cask chromium, then CHROMIUM_PATH=/Applications/Chromium.app/Contents/MacOS/Chromium',
    });
  }
}
if (missing.length === 0) process.exit(0);

const names = missing.map((m) => m.apt);
const isRoot = process.getuid?.() === 0;
if (isRoot && has('apt-get')) {
  console.log(`ensure-test-deps: installing ${names.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...names], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  process.exit(0);
}
console.error('The tests need programs that are not installed:');
for (const m of missing) {
  console.error(`  - ${m.apt}: \`sudo apt-get install -y ${m.apt}\` (Debian/Ubuntu), or ${m.brew}`);
}
process.exit(1);
