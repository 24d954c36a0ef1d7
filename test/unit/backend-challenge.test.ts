import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { backendAuthRefusal, dropChallenges } from '../../lib/chain/upstream-headers.js';

describe('backendAuthRefusal', () => {
  const cases: [number, IncomingHttpHeaders, string | undefined][] = [
    [401, { 'www-authenticate': 'Basic realm="mail"' }, 'ERR_CREDENTIALS_REJECTED'],
    [401, { 'www-authenticate': 'basic' }, 'ERR_CREDENTIALS_REJECTED'],
    [401, { 'www-authenticate': 'Bearer realm="a", BASIC realm="b"' }, 'ERR_CREDENTIALS_REJECTED'],
    [401, { 'www-authenticate': 'Bearer realm="a",Basic' }, 'ERR_CREDENTIALS_REJECTED'],
    [401, { 'www-authenticate': 'Digest realm="x", nonce="y"' }, 'ERR_CREDENTIALS_REJECTED'],
    [401, { 'www-authenticate': 'Negotiate' }, 'ERR_CREDENTIALS_REJECTED'],
    [401, { 'www-authenticate': 'NTLM' }, 'ERR_CREDENTIALS_REJECTED'],
    [401, { 'www-authenticate': 'Bearer error="invalid_token"' }, undefined],
    [401, { 'www-authenticate': 'Basicish realm="x"' }, undefined],
    [401, { 'www-authenticate': 'Bearer realm="basic"' }, undefined],
    [401, {}, undefined],
    [403, { 'www-authenticate': 'Basic' }, undefined],
    [200, { 'www-authenticate': 'Basic' }, undefined],
    [407, { 'proxy-authenticate': 'Basic' }, 'ERR_UPSTREAM_FAILED'],
    [407, {}, 'ERR_UPSTREAM_FAILED'],
  ];
  for (const [status, headers, expected] of cases) {
    it(`${status} ${JSON.stringify(headers)} -> ${expected ?? 'passed on'}`, () => {
      assert.equal(backendAuthRefusal(status, headers), expected);
    });
  }
});

describe('dropChallenges', () => {
  it('removes proxy challenges and login-box challenges, keeping the rest', () => {
    const headers: IncomingHttpHeaders = {
      'proxy-authenticate': 'Basic',
      'proxy-authentication-info': 'x',
      'www-authenticate': 'Bearer a, Basic b',
      'content-type': 'text/plain',
    };
    dropChallenges(headers);
    assert.deepEqual(headers, { 'content-type': 'text/plain' });
    const bearer: IncomingHttpHeaders = { 'www-authenticate': 'Bearer a' };
    dropChallenges(bearer);
    assert.deepEqual(bearer, { 'www-authenticate': 'Bearer a' });
  });
});
