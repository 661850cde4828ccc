/**
 * Samples server.stats() on a timer for the whole run and checks what
 * THREADING.md promises of a snapshot taken while the workers and the loop
 * thread change the counters: every value is a whole number in [0, 2^53).
 * A gauge decremented before its increment was visible would show up here
 * as a huge number (the native side keeps them as unsigned 64-bit words).
 */
import type { Server } from '../../index';

export interface StatsSamples {
  samples: number;
  /** The first few offending fields, with the sample they were seen in. */
  bad: string[];
  badTotal: number;
}

const KEEP = 5;

export class StatsSampler {
  private readonly result: StatsSamples = { samples: 0, bad: [], badTotal: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly server: Server, private readonly everyMs = 25) {}

  start(): void {
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): StatsSamples {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    return this.result;
  }

  private sample(): void {
    const stats = this.server.stats() as unknown as Record<string, unknown>;
    const n = ++this.result.samples;
    for (const [key, value] of Object.entries(stats)) {
      if (typeof value !== 'number') continue;
      if (Number.isSafeInteger(value) && value >= 0) continue;
      this.result.badTotal++;
      if (this.result.bad.length < KEEP) this.result.bad.push(`${key} = ${value} (sample ${n})`);
    }
  }
}
