import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VerifiedClaimsCache } from '../../lib/chain/verified-claims.js';

const NOW = 1_800_000_000;

describe('VerifiedClaimsCache', () => {
  it('serves claims only under exactly the key they were stored with', () => {
    const cache = new VerifiedClaimsCache(0);
    cache.set('Authorization=abc', { sid: 's', exp: NOW + 60 });
    assert.deepEqual(cache.get('Authorization=abc', NOW), { sid: 's', exp: NOW + 60 });
    for (const other of ['Authorization=abC', 'Authorization=abc ', ' Authorization=abc', '']) {
      assert.equal(cache.get(other, NOW), undefined, JSON.stringify(other));
    }
  });

  it("checks exp and nbf on every use, with jsonwebtoken's rule and the clock tolerance", () => {
    const cases: [string, number, Record<string, number>, number, boolean][] = [
      ['before exp', 0, { exp: NOW + 1 }, NOW, true],
      ['at exp', 0, { exp: NOW }, NOW, false],
      ['after exp, within tolerance', 5, { exp: NOW - 4 }, NOW, true],
      ['after exp and tolerance', 5, { exp: NOW - 5 }, NOW, false],
      ['at nbf', 0, { exp: NOW + 60, nbf: NOW }, NOW, true],
      ['before nbf', 0, { exp: NOW + 60, nbf: NOW + 1 }, NOW, false],
      ['before nbf, within tolerance', 5, { exp: NOW + 60, nbf: NOW + 5 }, NOW, true],
      ['non-finite exp', 0, { exp: Number.POSITIVE_INFINITY }, NOW, false],
    ];
    for (const [name, tolerance, claims, now, valid] of cases) {
      const cache = new VerifiedClaimsCache(tolerance);
      cache.set('k', { sid: 's', ...claims });
      assert.equal(cache.get('k', now) !== undefined, valid, name);
    }
  });

  it('drops an entry once it is outside its window', () => {
    const cache = new VerifiedClaimsCache(0);
    cache.set('k', { sid: 's', exp: NOW + 1 });
    assert.equal(cache.get('k', NOW + 1), undefined);
    assert.equal(cache.size, 0);
    // Going back in time does not bring it back: the full path decides again.
    assert.equal(cache.get('k', NOW), undefined);
  });

  it('keeps a frozen copy, so that nothing downstream can change what later requests get', () => {
    const cache = new VerifiedClaimsCache(0);
    const claims: Record<string, unknown> = { sid: 's', exp: NOW + 60 };
    cache.set('k', claims);
    claims.sid = 'other';
    const cached = cache.get('k', NOW);
    assert.equal(cached?.sid, 's');
    assert.ok(Object.isFrozen(cached));
  });

  it('is bounded in entries and in bytes, least recently used out first', () => {
    const byCount = new VerifiedClaimsCache(0, { maxEntries: 2, maxBytes: 1e6 });
    for (const key of ['a', 'b']) byCount.set(key, { sid: key, exp: NOW + 60 });
    byCount.get('a', NOW);
    byCount.set('c', { sid: 'c', exp: NOW + 60 });
    assert.equal(byCount.size, 2);
    assert.equal(byCount.get('b', NOW), undefined);
    assert.ok(byCount.get('a', NOW) !== undefined && byCount.get('c', NOW) !== undefined);

    const byBytes = new VerifiedClaimsCache(0, { maxEntries: 1000, maxBytes: 20_000 });
    for (let i = 0; i < 100; i++)
      byBytes.set(`${i}`.padEnd(4000, 'x'), { sid: 's', exp: NOW + 60 });
    assert.ok(byBytes.size > 0 && byBytes.size <= 2, `size ${byBytes.size}`);
  });
});
