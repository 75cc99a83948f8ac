import { afterEach, describe, expect, it, vi } from 'vitest';
import { PgDb } from '../src/store/postgres/db.js';
import { PgNotifier } from '../src/store/postgres/notify.js';
import { onCleanup, pgStoreUrl } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('PostgreSQL notifications', () => {
  it('a late wait still sees a recent NOTIFY, and payloads older than ten minutes are forgotten', async () => {
    const db = new PgDb(pgStoreUrl());
    const notifier = new PgNotifier(db);
    onCleanup(async () => {
      await notifier.close();
      await db.close();
    });
    const channel = notifier.channel('drover_test');
    const sent = async (payload: string) => {
      // Waits for the notification itself (a minute at most: it comes in milliseconds).
      // (wait() registers its waiter before it returns: the NOTIFY cannot come too early.)
      const seen = notifier.wait(channel, 60_000, undefined, (p) => p === payload);
      await notifier.notify(db.pool, channel, payload);
      await seen;
    };
    const before = Date.now();
    // The first wait opens the LISTEN connection; the NOTIFY after it is delivered to it.
    await notifier.wait(channel, 1, undefined, undefined, before);
    for (let i = 0; i < 5; i++) await sent(`run-${i}`);
    expect(notifier.remembered).toBe(5);
    // Notified after `since`: a wait that starts late resolves without waiting for its timeout.
    const late = await Promise.race([
      notifier.wait(channel, 60_000, undefined, (p) => p === 'run-3', before).then(() => 'seen'),
      new Promise((r) => setTimeout(() => r('timed out'), 30_000)),
    ]);
    expect(late).toBe('seen');
    // Eleven minutes on: the next NOTIFY forgets the old payloads, keeping only its own.
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 11 * 60_000);
    await sent('run-new');
    expect(notifier.remembered).toBe(1);
  });
});
