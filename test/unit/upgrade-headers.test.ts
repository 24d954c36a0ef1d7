import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { upstreamHeaders } from '../../lib/chain/upstream-headers.js';

const HANDSHAKE = {
  host: 'proxy.example.test',
  connection: 'keep-alive, Upgrade',
  upgrade: 'WebSocket',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
  'sec-websocket-extensions': 'permessage-deflate',
  'sec-websocket-protocol': 'chat',
  cookie: 'a=1; Authorization=eyJ',
  authorization: 'Bearer client',
};
const OPTIONS = {
  authorization: 'Basic Zm9v',
  cookieName: 'Authorization',
  replaceForwarded: true,
};

describe('upstream headers of a WebSocket handshake', () => {
  it('keeps the handshake headers and asks the backend to upgrade', () => {
    assert.deepEqual(upstreamHeaders(HANDSHAKE, { ...OPTIONS, upgrade: true }), {
      host: 'proxy.example.test',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
      'sec-websocket-extensions': 'permessage-deflate',
      'sec-websocket-protocol': 'chat',
      cookie: 'a=1',
      authorization: 'Basic Zm9v',
      connection: 'Upgrade',
      upgrade: 'websocket',
      'x-forwarded-host': 'proxy.example.test',
    });
  });

  it('drops all of them from any other request (no h2c or WebSocket smuggling)', () => {
    assert.deepEqual(upstreamHeaders(HANDSHAKE, OPTIONS), {
      host: 'proxy.example.test',
      cookie: 'a=1',
      authorization: 'Basic Zm9v',
    });
  });

  it('leaves X-Forwarded-Host to the client behind a trusted proxy (xfwd: false)', () => {
    const headers = upstreamHeaders(
      { ...HANDSHAKE, 'x-forwarded-host': 'edge.example.test' },
      { ...OPTIONS, replaceForwarded: false, upgrade: true },
    );
    assert.equal(headers['x-forwarded-host'], 'edge.example.test');
  });
});
