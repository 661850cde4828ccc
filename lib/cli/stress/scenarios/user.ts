/**
 * The user module's sample calls (`xdrd stress ./module.js`), pipelined on
 * raw peers: each must get exactly one reply or error reply.
 */
import type { Random } from '../random';
import { EMPTY, bounded, connect, finish, timeUp } from './common';
import type { StressContext } from './plan';

/** The user module's sample calls, pipelined; each must get exactly one reply or error reply. */
export async function userCalls(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'user-calls');
  let calls = 0;
  for (let r = 0; r < ctx.plan.userRepeats && peer.open && !timeUp(ctx); r++) {
    for (const c of rng.shuffle(ctx.userCalls)) {
      void peer.call(c.program, c.version, c.procedure, c.body ?? EMPTY, (o) => {
        ctx.tally.add(o.kind === 'ok' ? 'user.results' : 'user.errors');
        return undefined;
      });
      calls++;
    }
    await bounded(ctx, peer.settled(), Infinity);
  }
  await finish(ctx, peer);
  ctx.tally.add('calls.user', calls);
}

