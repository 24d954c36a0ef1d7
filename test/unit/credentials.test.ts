import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { basicAuthorization, MAX_CREDENTIALS_LENGTH } from '../../lib/sessions/credentials.js';
import { AuthProxyError, openCredentials, sealCredentials } from '../../lib/index.js';

const HEX_KEY = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const isInvalid = (err: unknown): boolean =>
  err instanceof AuthProxyError && err.code === 'ERR_CREDENTIALS_INVALID';

describe('sealCredentials / openCredentials', () => {
  it('round-trips with every key form', () => {
    const bytes = Buffer.from(HEX_KEY, 'hex');
    for (const key of [HEX_KEY, bytes.toString('base64'), bytes.toString('base64url'), bytes]) {
      assert.equal(openCredentials(sealCredentials('Zm9vOmJhcg==', key), HEX_KEY), 'Zm9vOmJhcg==');
    }
  });

  it('produces base64(iv[12] || ciphertext || tag[16]) of AES-256-GCM', () => {
    const plain = 'Zm9vOmJhcg==';
    const data = Buffer.from(sealCredentials(plain, HEX_KEY), 'base64');
    assert.equal(data.length, 12 + plain.length + 16);
    const decipher = createDecipheriv(
      'aes-256-gcm',
      Buffer.from(HEX_KEY, 'hex'),
      data.subarray(0, 12),
    );
    decipher.setAuthTag(data.subarray(data.length - 16));
    const opened = Buffer.concat([decipher.update(data.subarray(12, -16)), decipher.final()]);
    assert.equal(opened.toString(), plain);
  });

  it('uses a fresh IV each time', () => {
    assert.notEqual(sealCredentials('x', HEX_KEY), sealCredentials('x', HEX_KEY));
  });

  it('refuses another key, a tampered value and a short value', () => {
    const sealed = sealCredentials('Zm9vOmJhcg==', HEX_KEY);
    const tampered = Buffer.from(sealed, 'base64');
    tampered[14] = (tampered[14] ?? 0) ^ 1;
    assert.throws(() => openCredentials(sealed, randomBytes(32)), isInvalid);
    assert.throws(() => openCredentials(tampered.toString('base64'), HEX_KEY), isInvalid);
    assert.throws(() => openCredentials('c2hvcnQ=', HEX_KEY), isInvalid);
  });

  it('rejects keys that are not 32 bytes', () => {
    for (const key of ['short', 'a'.repeat(63), Buffer.alloc(16), '']) {
      assert.throws(() => sealCredentials('x', key), /credentialsKey/);
    }
  });
});

describe('basicAuthorization', () => {
  it('places the value verbatim after Basic, one trailing newline removed', () => {
    assert.equal(basicAuthorization('Zm9vOmJhcg=='), 'Basic Zm9vOmJhcg==');
    assert.equal(basicAuthorization('Zm9vOmJhcg==\n'), 'Basic Zm9vOmJhcg==');
    assert.equal(basicAuthorization('a b'), 'Basic a b');
  });

  for (const bad of [
    '',
    '\n',
    'a\n\n',
    'a\r\n',
    'a\rb',
    'a\nb',
    'a\u0000b',
    'a\tb',
    'é',
    'a\u007f',
    ' ',
    ' Zm9v',
    'Zm9v ',
  ]) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(() => basicAuthorization(bad), isInvalid);
    });
  }
  it(`accepts up to ${MAX_CREDENTIALS_LENGTH} characters, and refuses one more`, () => {
    assert.equal(MAX_CREDENTIALS_LENGTH, 4096);
    const longest = 'a'.repeat(MAX_CREDENTIALS_LENGTH);
    assert.equal(basicAuthorization(`${longest}\n`), `Basic ${longest}`);
    assert.throws(() => basicAuthorization(`${longest}a`), isInvalid);
    assert.throws(() => basicAuthorization('a'.repeat(1 << 20)), isInvalid);
  });
});
