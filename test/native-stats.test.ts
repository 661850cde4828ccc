/**
 * The counter list exists once (native/core/server/counters.def and the
 * bridge's list): the addon's stats() keys, the key list it exports and the
 * NativeStats type cannot drift apart.
 */
import { Server } from '../lib';
import { native, nativeStatKeys } from '../lib/native';
import { cleanUp, socketPath, track } from './helpers/harness';

afterEach(cleanUp);

test('NativeStats names exactly the keys the addon exports', () => {
  expect(Object.keys(nativeStatKeys).sort()).toEqual([...native().statKeys].sort());
  expect(new Set(native().statKeys).size).toBe(native().statKeys.length);
});

test('stats() carries every native key as a number, the three once missing included', async () => {
  const server = track(new Server({ workers: 1 }));
  await server.listen({ path: socketPath() });
  const stats = server.stats() as unknown as Record<string, unknown>;
  for (const key of native().statKeys) expect(typeof stats[key]).toBe('number');
  for (const key of ['acceptRetries', 'fdsClosed', 'handlerExceptions']) expect(stats[key]).toBe(0);
});
