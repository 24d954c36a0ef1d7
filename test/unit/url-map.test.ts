import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bodyHrefToUpstream,
  publicBase,
  toPublic,
  toUpstream,
  upstreamBase,
} from '../../lib/rewrite/url-map.js';

const up = upstreamBase('http://10.0.0.5:8081/remote.php', true);
const pub = publicBase('/dav', 'https', 'Example.org:443');

describe('upstreamBase and publicBase', () => {
  it('normalizes the target', () => {
    assert.deepEqual(upstreamBase('http://10.0.0.5:8081/remote.php/', true), {
      origin: 'http://10.0.0.5:8081',
      host: '10.0.0.5:8081',
      path: '/remote.php',
      changeOrigin: true,
    });
    assert.equal(upstreamBase('https://backend:443', false).path, '');
    assert.equal(upstreamBase('https://backend:443', false).host, 'backend');
  });

  it('normalizes the host the client addressed', () => {
    assert.deepEqual(pub, { prefix: '/dav', origin: 'https://example.org', host: 'example.org' });
    assert.deepEqual(publicBase('', 'http', undefined), {
      prefix: '',
      origin: undefined,
      host: undefined,
    });
  });
});

describe('toUpstream (client URL to backend URL)', () => {
  const table: [string, string][] = [
    ['https://example.org/dav/a.txt', 'http://10.0.0.5:8081/remote.php/a.txt'],
    ['https://EXAMPLE.org:443/dav/a%20b/c%2Fd', 'http://10.0.0.5:8081/remote.php/a%20b/c%2Fd'],
    ['http://example.org/dav/x', 'http://10.0.0.5:8081/remote.php/x'],
    ['https://example.org/dav', 'http://10.0.0.5:8081/remote.php/'],
    ['https://example.org/dav/', 'http://10.0.0.5:8081/remote.php/'],
    ['https://example.org/DAV/x', 'http://10.0.0.5:8081/remote.php/x'],
    ['https://example.org/dav//x//y', 'http://10.0.0.5:8081/remote.php/x/y'],
    ['https://example.org/dav/x?a=1//2', 'http://10.0.0.5:8081/remote.php/x?a=1//2'],
    ['https://example.org/dav?v', 'http://10.0.0.5:8081/remote.php/?v'],
    ['/dav/x', '/remote.php/x'],
    ['/dav', '/remote.php/'],
  ];
  for (const [input, expected] of table) {
    it(`maps ${input}`, () => {
      assert.equal(toUpstream(input, up, pub), expected);
    });
  }

  const refused: [string, string][] = [
    ['https://other.example/dav/x', 'names another host'],
    ['https://example.org:8443/dav/x', 'names another host'],
    ['https://example.org/mail/x', 'is outside this mount'],
    ['https://example.org/davx', 'is outside this mount'],
    ['https://example.org', 'is outside this mount'],
    ['/mail/x', 'is outside this mount'],
    ['https://example.org/dav/../admin', 'has an unsafe path (path is not below the mount point)'],
    [
      'https://example.org/dav/%2e%2e/admin',
      'has an unsafe path (path is not below the mount point)',
    ],
    ['/dav/a/..%5c..%5cadmin', 'has an unsafe path (path is not below the mount point)'],
    [
      'https://example.org/dav/x#frag',
      'has an unsafe path (request target holds a fragment or a character outside visible ASCII)',
    ],
    [
      'https://example.org/dav/a b',
      'has an unsafe path (request target holds a fragment or a character outside visible ASCII)',
    ],
    [
      '/dav/caf\u00e9',
      'has an unsafe path (request target holds a fragment or a character outside visible ASCII)',
    ],
    ['/dav/a\\b', 'has an unsafe path (path holds a backslash)'],
    ['https://user@example.org/dav/x', 'carries user information'],
    ['ftp://example.org/dav/x', 'is not an http(s) URI'],
    ['//example.org/dav/x', 'is not an absolute URI or path'],
    ['dav/x', 'is not an absolute URI or path'],
    ['', 'is not an absolute URI or path'],
    ['urn:uuid:1234', 'is not an absolute URI or path'],
  ];
  for (const [input, problem] of refused) {
    it(`refuses ${input || '(empty)'}: ${problem}`, () => {
      assert.deepEqual(toUpstream(input, up, pub), { problem });
    });
  }

  it('keeps the client origin without changeOrigin', () => {
    const own = upstreamBase('http://10.0.0.5:8081/remote.php', false);
    assert.equal(
      toUpstream('https://example.org/dav/x', own, pub),
      'https://example.org/remote.php/x',
    );
  });

  it('maps a mount at the root and a target at the root', () => {
    const root = publicBase('', 'http', 'proxy:3000');
    assert.equal(toUpstream('http://proxy:3000/x', up, root), 'http://10.0.0.5:8081/remote.php/x');
    const bare = upstreamBase('http://10.0.0.5:8081', true);
    assert.equal(toUpstream('/dav/x', bare, pub), '/x');
    assert.equal(toUpstream('/dav', bare, pub), '/');
  });
});

describe('bodyHrefToUpstream (an href of a request body)', () => {
  it('translates the paths and URLs of this mount', () => {
    assert.equal(bodyHrefToUpstream('/dav/cal/a%20b.ics', up, pub), '/remote.php/cal/a%20b.ics');
    assert.equal(
      bodyHrefToUpstream('https://example.org/dav/cal/', up, pub),
      'http://10.0.0.5:8081/remote.php/cal/',
    );
  });

  it('keeps what names no resource of the backend', () => {
    for (const href of [
      'mailto:alice@example.org',
      'urn:uuid:6f1c8e1e-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
      'http://www.apple.com/webdav_fs/',
      'https://other.example/dav/x',
      'ftp://example.org/dav/x',
      'event.ics',
      'sub/event%20one.ics',
    ]) {
      assert.equal(bodyHrefToUpstream(href, up, pub), href);
    }
  });

  it('refuses what would reach outside the mount', () => {
    for (const href of [
      '/mail/inbox',
      '/dav/../mail/inbox',
      '/dav/%2e%2e/mail',
      'https://example.org/mail/x',
      'https://user@example.org/dav/x',
      '../../mail/inbox',
      'a/%2E%2E/%2e%2e/x',
      '//example.org/dav/x',
      'é.ics',
    ]) {
      assert.equal(typeof bodyHrefToUpstream(href, up, pub), 'object', href);
    }
  });
});

describe('toPublic (backend URL to client URL)', () => {
  const table: [string, string][] = [
    ['/remote.php/a%20b/', '/dav/a%20b/'],
    ['/remote.php/', '/dav/'],
    ['/remote.php', '/dav'],
    ['/remote.php?x', '/dav?x'],
    ['http://10.0.0.5:8081/remote.php/a.txt', 'https://example.org/dav/a.txt'],
    ['HTTP://10.0.0.5:8081/remote.php/a.txt', 'https://example.org/dav/a.txt'],
    ['http://10.0.0.5:8081', 'https://example.org'],
    ['http://10.0.0.5:8081/elsewhere', 'https://example.org/elsewhere'],
    ['https://example.org/remote.php/x', 'https://example.org/dav/x'],
    ['/remote.phpx/y', '/remote.phpx/y'],
    ['/Remote.php/y', '/Remote.php/y'],
    ['/elsewhere', '/elsewhere'],
    ['http://other:8081/remote.php/x', 'http://other:8081/remote.php/x'],
    ['a.txt', 'a.txt'],
    ['../x', '../x'],
    ['urn:uuid:1234', 'urn:uuid:1234'],
    ['mailto:a@b', 'mailto:a@b'],
    ['//10.0.0.5:8081/remote.php/x', '//10.0.0.5:8081/remote.php/x'],
    ['', ''],
  ];
  for (const [input, expected] of table) {
    it(`maps ${input || '(empty)'}`, () => {
      assert.equal(toPublic(input, up, pub), expected);
    });
  }

  it('keeps the paths of a same-path mount and still hides the backend origin', () => {
    const same = publicBase('/remote.php', 'http', 'proxy:3000');
    assert.equal(toPublic('/remote.php/x', up, same), '/remote.php/x');
    assert.equal(
      toPublic('http://10.0.0.5:8081/remote.php/x', up, same),
      'http://proxy:3000/remote.php/x',
    );
  });

  it('maps a mount at the root', () => {
    const root = publicBase('', 'http', 'proxy:3000');
    assert.equal(toPublic('/remote.php', up, root), '/');
    assert.equal(toPublic('/remote.php/x', up, root), '/x');
    assert.equal(toPublic('/remote.php?q', up, root), '/?q');
  });

  it('gives a path when the client sent no Host', () => {
    const hostless = publicBase('/dav', 'http', undefined);
    assert.equal(toPublic('http://10.0.0.5:8081/remote.php/x', up, hostless), '/dav/x');
    assert.equal(toPublic('http://10.0.0.5:8081', up, hostless), '/');
  });

  it('is the inverse of toUpstream below the mount', () => {
    for (const path of ['/dav/', '/dav/a%20b', '/dav/x/y.txt?q=1', '/dav/%E2%82%AC/']) {
      const upstream = toUpstream(`https://example.org${path}`, up, pub);
      assert.equal(typeof upstream, 'string');
      assert.equal(toPublic(upstream as string, up, pub), `https://example.org${path}`);
    }
  });
});
