import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { startDemo } from '../../demo/app.js';
import type { Demo } from '../../demo/app.js';

// Debian's chromium, never a downloaded browser. CHROMIUM_PATH points elsewhere when needed.
const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
const executablePath = CANDIDATES.find((path) => path !== undefined && existsSync(path));

let demo: Demo;
let browser: Browser;

before(async () => {
  if (executablePath === undefined) {
    throw new Error(
      'Chromium is not installed. Install it: `apt-get install -y chromium` on Debian/Ubuntu, or ' +
        'set CHROMIUM_PATH to a Chromium or Chrome binary.',
    );
  }
  demo = await startDemo({ port: 0, accessLog: new PassThrough().resume() });
  browser = await chromium.launch({
    executablePath,
    headless: true,
    // The machine has no network beyond loopback: keep Chromium from reaching out. Playwright
    // gives it a fresh temporary profile.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser.close();
  await demo.close();
});

describe('the demo in a browser', () => {
  it('logs in, opens /mail and /dav, logs out and sees the 401 page', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${demo.url}/`);
      assert.match(await page.content(), /alice/);
      await page.fill('#username', 'alice');
      await page.fill('#password', 'wonderland');
      await Promise.all([page.waitForURL(`${demo.url}/`), page.click('#login')]);
      assert.equal(await page.textContent('#user'), 'alice');

      const [cookie] = await context.cookies();
      assert.equal(cookie?.name, 'Authorization');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Lax');

      await Promise.all([page.waitForURL(`${demo.url}/mail/`), page.click('#mail')]);
      assert.match((await page.textContent('h1')) ?? '', /Demo Mail: inbox of alice/);
      assert.equal(await page.textContent('#cookies'), 'no cookie');
      await page.goto(`${demo.url}/`);
      await Promise.all([page.waitForURL(`${demo.url}/dav/`), page.click('#dav')]);
      assert.match((await page.textContent('h1')) ?? '', /Demo DAV: files of alice/);

      await page.goto(`${demo.url}/`);
      await Promise.all([page.waitForURL(`${demo.url}/`), page.click('#logout')]);
      assert.equal(await page.isVisible('#login'), true);
      const response = await page.goto(`${demo.url}/mail/`);
      assert.equal(response?.status(), 401);
      assert.match((await page.textContent('#status')) ?? '', /401 Not logged in/);
      await Promise.all([page.waitForURL(`${demo.url}/`), page.click('#login-link')]);
      assert.equal(await page.isVisible('#login'), true);
    } finally {
      await context.close();
    }
  });
});
