import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Member, MemberState } from './balancer.ts';
import { leastOutstanding } from './least-outstanding.ts';
import { primaryBackup } from './primary-backup.ts';
import { roundRobin } from './round-robin.ts';

const pool = (...states: MemberState[]): Member[] =>
  states.map((state, i) => ({ name: `s-${i + 1}`, origin: `http://127.0.0.1:${9001 + i}`, state, outstanding: 0 }));

describe('primary-backup', () => {
  test('the primary while healthy, the next backup otherwise, and back again (fail-back)', () => {
    const members = pool('healthy', 'healthy', 'healthy');
    assert.equal(primaryBackup(members)?.name, 's-1');
    members[0]!.state = 'down';
    assert.equal(primaryBackup(members)?.name, 's-2');
    members[1]!.state = 'ejected';
    assert.equal(primaryBackup(members)?.name, 's-3');
    members[0]!.state = 'healthy';
    assert.equal(primaryBackup(members)?.name, 's-1');
  });

  test('a syncing member takes no traffic; excluded members are skipped; none eligible → undefined', () => {
    assert.equal(primaryBackup(pool('syncing', 'healthy'))?.name, 's-2');
    assert.equal(primaryBackup(pool('healthy', 'healthy'), new Set(['s-1']))?.name, 's-2');
    assert.equal(primaryBackup(pool('down', 'ejected', 'syncing')), undefined);
  });
});

describe('round-robin', () => {
  test('cycles over healthy members only', () => {
    const select = roundRobin();
    const members = pool('healthy', 'down', 'healthy');
    assert.deepEqual(
      Array.from({ length: 4 }, () => select(members)?.name),
      ['s-1', 's-3', 's-1', 's-3'],
    );
  });

  test('honours exclude and reports an empty pool', () => {
    const select = roundRobin();
    const members = pool('healthy', 'healthy');
    assert.equal(select(members, new Set(['s-1']))?.name, 's-2');
    assert.equal(select(pool('ejected')), undefined);
  });
});

describe('least-outstanding', () => {
  test('fewest in flight wins, ties to the earlier member, unhealthy never', () => {
    const members = pool('healthy', 'healthy', 'healthy');
    members[0]!.outstanding = 3;
    members[1]!.outstanding = 1;
    members[2]!.outstanding = 1;
    assert.equal(leastOutstanding(members)?.name, 's-2');
    members[1]!.state = 'down';
    assert.equal(leastOutstanding(members)?.name, 's-3');
    assert.equal(leastOutstanding(members, new Set(['s-3']))?.name, 's-1');
  });
});
