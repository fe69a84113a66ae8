import { jest } from '@jest/globals';
import { WaiterList } from '../../lib/pool/pool-checkout.js';

describe('WaiterList', () => {
  it('answers every waiter, oldest first, even when a callback throws, and re-raises that error on the next tick', () => {
    const list = new WaiterList();
    const answered: number[] = [];
    const boom = new Error('if (err) throw err');
    for (let i = 0; i < 5; i += 1) {
      list.add(() => {
        answered.push(i);
        if (i === 1) throw boom;
      }, undefined, false);
    }
    const deferred: Array<() => void> = [];
    const nextTick = jest.spyOn(process, 'nextTick').mockImplementation(((fn: () => void) => {
      deferred.push(fn);
    }) as typeof process.nextTick);
    try {
      list.failAll(new Error('shutting down'));
    } finally {
      nextTick.mockRestore();
    }
    expect(answered).toEqual([0, 1, 2, 3, 4]);
    expect(deferred).toHaveLength(1);
    expect(() => deferred[0]!()).toThrow(boom);
  });

  it('answers a waiter once: failAll skips waiters already settled', () => {
    const list = new WaiterList();
    const calls: string[] = [];
    const settled = list.add(() => calls.push('settled'), undefined, false);
    list.add(() => calls.push('open'), undefined, false);
    settled.settled = true;
    list.failAll(new Error('x'));
    expect(calls).toEqual(['open']);
  });
});
