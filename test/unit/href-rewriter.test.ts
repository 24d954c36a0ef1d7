import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { hrefRewriter } from '../../lib/rewrite/href-rewriter.js';

const map = (href: string): string => href.replace(/^\/remote\.php(?=\/|$)/, '/dav');

/** Runs `input` through the rewriter cut into chunks of `size` bytes (whole when omitted). */
async function rewrite(input: string | Buffer, size?: number): Promise<Buffer> {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size ?? bytes.length) {
    chunks.push(bytes.subarray(i, i + (size ?? bytes.length)));
  }
  return buffer(Readable.from(chunks).pipe(hrefRewriter(map)));
}

const MULTISTATUS = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:x="urn:example">
  <D:response>
    <D:href>/remote.php/a%20b/</D:href>
    <D:propstat><D:prop><x:href>/remote.php/not-dav</x:href><D:displayname>/remote.php/text</D:displayname></D:prop>
    <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  </D:response>
  <response xmlns="DAV:"><href>
    /remote.php/c&amp;d/%C3%A9t%C3%A9/</href></response>
  <d:response xmlns:d="DAV:"><d:href><![CDATA[/remote.php/<cdata>]]></d:href></d:response>
  <D:response><D:href>/elsewhere/€</D:href><D:href/><D:href>/remote.php</D:href></D:response>
</D:multistatus>
`;

const EXPECTED = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:x="urn:example">
  <D:response>
    <D:href>/dav/a%20b/</D:href>
    <D:propstat><D:prop><x:href>/remote.php/not-dav</x:href><D:displayname>/remote.php/text</D:displayname></D:prop>
    <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  </D:response>
  <response xmlns="DAV:"><href>
    /dav/c&amp;d/%C3%A9t%C3%A9/</href></response>
  <d:response xmlns:d="DAV:"><d:href>/dav/&lt;cdata&gt;</d:href></d:response>
  <D:response><D:href>/elsewhere/€</D:href><D:href/><D:href>/dav</D:href></D:response>
</D:multistatus>
`;

describe('hrefRewriter', () => {
  it('rewrites the DAV:href elements whatever their prefix, and nothing else', async () => {
    assert.equal((await rewrite(MULTISTATUS)).toString(), EXPECTED);
  });

  it('gives the same bytes however the body is cut', async () => {
    for (const size of [1, 2, 3, 5, 7, 16, 64]) {
      assert.equal((await rewrite(MULTISTATUS, size)).toString(), EXPECTED, `chunks of ${size}`);
    }
  });

  it('keeps the exact bytes of hrefs it does not change, entities and a BOM included', async () => {
    const body = '\uFEFF<m xmlns="DAV:"><href>/x/&#x41;&amp;</href><href>/x/\u00e9</href></m>';
    assert.equal((await rewrite(body, 3)).toString(), body);
  });

  it('leaves an href with child elements alone', async () => {
    const body =
      '<D:m xmlns:D="DAV:"><D:href>/remote.php/a<b/>c</D:href><D:href>/remote.php/d</D:href></D:m>';
    assert.equal(
      (await rewrite(body)).toString(),
      '<D:m xmlns:D="DAV:"><D:href>/remote.php/a<b/>c</D:href><D:href>/dav/d</D:href></D:m>',
    );
  });

  it('passes a body that is not well-formed on unchanged from where it fails', async () => {
    const body =
      '<D:m xmlns:D="DAV:"><D:href>/remote.php/1</D:href><D:oops></D:m><D:href>/remote.php/2</D:href>';
    assert.equal(
      (await rewrite(body, 4)).toString(),
      '<D:m xmlns:D="DAV:"><D:href>/dav/1</D:href><D:oops></D:m><D:href>/remote.php/2</D:href>',
    );
    const unbound = '<D:m><D:href>/remote.php/1</D:href></D:m>';
    assert.equal((await rewrite(unbound)).toString(), unbound);
    const truncated = '<D:m xmlns:D="DAV:"><D:href>/remote.php/1</D:href><D:href>/remo';
    assert.equal(
      (await rewrite(truncated, 5)).toString(),
      '<D:m xmlns:D="DAV:"><D:href>/dav/1</D:href><D:href>/remo',
    );
  });

  it('passes bytes that are not UTF-8 on unchanged', async () => {
    const head = Buffer.from('<D:m xmlns:D="DAV:"><D:href>/remote.php/1</D:href><D:href>');
    const body = Buffer.concat([head, Buffer.from([0xff, 0xfe]), Buffer.from('</D:href></D:m>')]);
    const out = await rewrite(body, 7);
    assert.deepEqual(
      out,
      Buffer.concat([
        Buffer.from('<D:m xmlns:D="DAV:"><D:href>/dav/1</D:href><D:href>'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('</D:href></D:m>'),
      ]),
    );
  });

  it('gives up on an href longer than 64 KiB instead of holding it', async () => {
    const long = `/remote.php/${'a'.repeat(70 * 1024)}`;
    const body = `<D:m xmlns:D="DAV:"><D:href>${long}</D:href><D:href>/remote.php/x</D:href></D:m>`;
    assert.equal(
      (await rewrite(body, 1000)).toString(),
      `<D:m xmlns:D="DAV:"><D:href>${long}</D:href><D:href>/dav/x</D:href></D:m>`,
    );
  });

  describe('strict, for request bodies', () => {
    const strict = (problem: string): Error => new Error(`refused: ${problem}`);
    const refusing = (href: string): string => {
      if (href.startsWith('/mail')) throw new Error('an href is outside this mount');
      return map(href);
    };
    /** Runs `input` through a strict rewriter in chunks of 1000 bytes. */
    async function strictly(input: string | Buffer): Promise<Buffer> {
      const bytes = Buffer.from(input);
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 1000) chunks.push(bytes.subarray(i, i + 1000));
      return buffer(Readable.from(chunks).pipe(hrefRewriter(refusing, { strict })));
    }

    it('rewrites as the lenient one does', async () => {
      assert.equal((await strictly(MULTISTATUS)).toString(), EXPECTED);
    });

    it('fails on whatever it cannot judge, or an href that map refuses', async () => {
      const cases: [string, string | Buffer, RegExp][] = [
        ['refused href', '<D:a xmlns:D="DAV:"><D:href>/mail/x</D:href></D:a>', /outside/],
        ['not XML', '<D:a xmlns:D="DAV:"><D:href>/x</D:a>', /well-formed/],
        ['element inside', '<D:a xmlns:D="DAV:"><D:href><b/>/mail</D:href></D:a>', /element/],
        ['not UTF-8', Buffer.from([0x3c, 0x61, 0xff, 0x3e]), /UTF-8/],
        [
          'long href',
          `<D:a xmlns:D="DAV:"><D:href>/remote.php/${'x'.repeat(70_000)}</D:href></D:a>`,
          /64 KiB/,
        ],
      ];
      for (const [name, input, problem] of cases) {
        await assert.rejects(strictly(input), problem, name);
      }
    });
  });
});
