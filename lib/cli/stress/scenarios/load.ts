/**
 * The load of a round: pipelined waves of every kind of call on raw peers,
 * and the library's own Client used as an application would.
 */
import { Client, ErrorCode } from '../../../index';
import { StressProgram } from '../program';
import type { Random } from '../random';
import { P, bounded, connect, finish, hello, timeUp } from './common';
import { EventBook, randomData, sendKind, wave } from './mix';
import type { StressContext } from './plan';

/** Pipelined waves of every kind of call; the connection stays open, so every call must be answered once. */
export async function pipelined(ctx: StressContext, rng: Random, index: number): Promise<void> {
  // Odd peers over TCP, even ones over UNIX: both transports carry load every round.
  const peer = await connect(ctx, rng, 'pipelined', index % 2 === 1 ? 'tcp' : 'unix');
  const book = new EventBook(ctx, peer);
  let calls = 0;
  let pings = 0;
  if ((await hello(ctx, peer)) !== undefined) {
    let first = true;
    while (calls < ctx.plan.pipelinedCalls && peer.open && !timeUp(ctx)) {
      for (const kind of wave(rng, rng.int(1, 32), first)) {
        if (sendKind(ctx, rng, peer, book, kind)) calls++;
        else pings++;
      }
      first = false;
      await bounded(ctx, peer.settled(), Infinity);
    }
  }
  await finish(ctx, peer);
  ctx.tally.add('calls.pipelined', calls);
  ctx.tally.add('pings.sent', pings);
  ctx.tally.add('pings.answered', peer.pongs);
  if (peer.state === 'ended' && peer.pongs !== pings) ctx.ledger.badReaction(`${peer.label}: ${pings} keepalive PINGs got ${peer.pongs} PONGs`);
}

/** The library's own Client: typed calls and typed events, as an application would. */
export async function libraryClient(ctx: StressContext, rng: Random): Promise<void> {
  const address = rng.chance(0.5) ? ctx.unix : ctx.tcp;
  const client = await Client.connect(address);
  const problems: string[] = [];
  client.on('error', (e) => problems.push(`client error: ${e.message}`));
  let ticks = 0;
  client.on(StressProgram.events.tick, () => ticks++);
  let wanted = 0;
  let settled = 0;
  const calls: Promise<void>[] = [];
  for (let i = 0; i < ctx.plan.clientCalls; i++) {
    const kind = rng.int(0, 9);
    let p: Promise<void>;
    if (kind < 7) {
      const data = randomData(rng);
      p = client.call(P.echo, { data }).then((v) => {
        if (Buffer.compare(v, data) !== 0) problems.push('echo came back different');
      });
    } else if (kind < 9) {
      const count = rng.int(1, 3);
      wanted += count;
      p = client.call(P.events, { tag: 0, count, size: 16 }).then((v) => {
        if (v !== count) problems.push(`events: ${v} queued, not ${count}`);
      });
    } else {
      p = client.call(P.refuse, { code: ErrorCode.INVALID_ARG }).then(
        () => void problems.push('refuse succeeded'),
        (e: { code?: unknown }) => {
          if (e.code !== ErrorCode.INVALID_ARG) problems.push(`refuse: ${String(e)}`);
        },
      );
    }
    calls.push(
      p.then(
        () => void settled++,
        (e: unknown) => {
          settled++;
          problems.push(`call failed: ${String(e)}`);
        },
      ),
    );
  }
  ctx.ledger.sent += calls.length;
  await bounded(ctx, Promise.all(calls), Infinity);
  ctx.ledger.answered += settled;
  if (settled < calls.length && timeUp(ctx)) {
    ctx.ledger.abandonedPending += calls.length - settled;
  } else if (settled < calls.length) {
    ctx.ledger.missing += calls.length - settled;
    ctx.ledger.note(`library client: ${calls.length - settled} call(s) never settled`);
  }
  // Events precede their reply, so every tick is in before the last call settles.
  if (ticks !== wanted) problems.push(`${ticks} tick events, ${wanted} asked for`);
  for (const p of problems.slice(0, 5)) ctx.ledger.note(`library client: ${p}`);
  ctx.ledger.wrong += problems.length;
  ctx.tally.add('calls.client', calls.length);
  await client.close();
}

