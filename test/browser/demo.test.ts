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

  it("runs the live page's WebSocket and closes it within seconds of a logout in another tab", async () => {
    const context = await browser.newContext();
    try {
      const live = await context.newPage();
      await live.goto(`${demo.url}/`);
      await live.fill('#username', 'alice');
      await live.fill('#password', 'wonderland');
      await Promise.all([live.waitForURL(`${demo.url}/`), live.click('#login')]);
      await Promise.all([live.waitForURL(`${demo.url}/mail/live`), live.click('#live')]);

      // Two ticks: the socket is open and the clock runs through the proxy.
      await live.waitForSelector('body[data-ticks="2"]');
      assert.equal(await live.textContent('#state'), 'open');
      assert.equal(await live.textContent('#socket-user'), 'alice');
      await live.fill('#text', 'hello from the browser');
      await live.click('#send');
      await live.waitForSelector('#echoes li');
      assert.equal(await live.textContent('#echoes li'), 'hello from the browser');
      assert.equal(await live.isVisible('#ended'), false);

      const portal = await context.newPage();
      await portal.goto(`${demo.url}/`);
      await Promise.all([portal.waitForURL(`${demo.url}/`), portal.click('#logout')]);
      assert.equal(await portal.isVisible('#login'), true);

      // The in-memory store reports the logout at once; "within a few seconds" is the promise.
      await live.waitForSelector('body[data-closed="4401"]', { timeout: 5000 });
      assert.equal(await live.textContent('#state'), 'closed, code 4401 (session ended)');
      assert.equal(await live.isVisible('#ended'), true);
      assert.equal(await live.isDisabled('#send'), true);
    } finally {
      await context.close();
    }
  });

  it('creates, renames and moves files in the WebDAV store through the proxy', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${demo.url}/`);
      await page.fill('#username', 'carol');
      await page.fill('#password', 'caroline');
      await Promise.all([page.waitForURL(`${demo.url}/`), page.click('#login')]);
      await Promise.all([page.waitForURL(`${demo.url}/dav/`), page.click('#dav')]);
      assert.match((await page.textContent('h1')) ?? '', /Demo DAV: files of carol/);

      // Each action ends with a PROPFIND listing; the page counts them.
      let listings = 1;
      const listed = async (): Promise<string[]> => {
        await page.waitForSelector(`body[data-listings="${listings++}"]`);
        return page.locator('#files tr').allTextContents();
      };
      const first = await listed();
      assert.ok(
        first.some((row) => row.startsWith('notes.txt')),
        first.join(' | '),
      );

      await page.fill('#folder', 'reports');
      await page.click('#mkcol-button');
      await listed();
      await page.fill('#file', 'draft.txt');
      await page.fill('#content', 'Quarterly figures');
      await page.click('#put-button');
      const uploaded = await listed();
      assert.ok(
        uploaded.some((row) => row.startsWith('draft.txt')),
        uploaded.join(' | '),
      );

      // Rename: MOVE with a Destination the browser computed from the page's own URL.
      await page.selectOption('#source', { label: 'draft.txt' });
      await page.fill('#target', 'final.txt');
      await page.click('#move-button');
      const renamed = await listed();
      assert.ok(
        renamed.some((row) => row.startsWith('final.txt')),
        renamed.join(' | '),
      );
      assert.ok(!renamed.some((row) => row.startsWith('draft.txt')), renamed.join(' | '));
      // The hrefs the browser received name the proxy's /dav, never the store's /remote.php.
      for (const row of renamed) assert.match(row, new RegExp(`${demo.url}/dav/`));

      await page.selectOption('#source', { label: 'final.txt' });
      await page.fill('#target', 'reports/final.txt');
      await page.click('#move-button');
      const moved = await listed();
      assert.ok(!moved.some((row) => row.startsWith('final.txt')), moved.join(' | '));
      const log = (await page.textContent('#log')) ?? '';
      assert.match(log, /MOVE \/dav\/draft\.txt to \/dav\/final\.txt: 201/);
      assert.match(log, /MOVE \/dav\/final\.txt to \/dav\/reports\/final\.txt: 201/);

      const file = await page.goto(`${demo.url}/dav/reports/final.txt`);
      assert.equal(await file?.text(), 'Quarterly figures');
    } finally {
      await context.close();
    }
  });
});
