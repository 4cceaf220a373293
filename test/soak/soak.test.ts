// The leak soak of bench/scenarios/soak.ts, short: a drake child, viewers joining and leaving, its
// FFmpeg SIGKILLed (drake reconnects it), one peer shard worker crashed. Once every viewer has left,
// drake must hold no more file descriptors and UDP sockets than before the first one joined.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { killAllDrakes } from '../../bench/lib/drakeChild.ts';
import { runSoak, SOAK_DEFAULTS, soakTable } from '../../bench/scenarios/soak.ts';

// HTTP keep-alive connections (the load viewers' WHEP POST/DELETE, the /metrics scrape) may still be
// open at the closing sample; every other fd must be back exactly.
const TCP_SLACK = 2;
// A one-off timer can be pending at the sample's instant (a pacing step, a comlink call's); a viewer that
// was never closed leaves several (werift's ICE, DTLS and RTCP timers).
const TIMER_SLACK = 2;

after(() => killAllDrakes());

test('after churn, FFmpeg kills and a shard crash, drake holds no more fds or UDP sockets than before the first viewer', { timeout: 240_000 }, async () => {
  const r = await runSoak(
    {
      ...SOAK_DEFAULTS,
      minutes: 1.25,
      viewers: 6,
      minLifeS: 3,
      maxLifeS: 20,
      ffmpegKillEveryS: 20,
      shardCrashAtS: 45,
      sampleEveryS: 5,
      settleS: 8,
      // Six viewers at two per thread: the stream thread and two shard workers.
      viewersPerShard: 2,
      // One ICE socket per viewer (shared_port off): a viewer whose socket outlives it shows in the fds.
      path: 'lean-solo',
      video: { size: '320x240', rate: 15, kbit: 300 },
    },
    (s) => process.stderr.write(`${s}\n`),
  );
  process.stderr.write(`${soakTable(r)}\n`);
  assert.ok(r.joins.ok >= 10, `viewers churned: ${r.joins.ok} joins with video, ${r.joins.failed} without ${JSON.stringify(r.joins.errors)}`);
  assert.ok(r.ffmpegKills >= 2, `FFmpeg was killed ${r.ffmpegKills} times`);
  assert.ok(r.shardCrashed, `the shard crash happened: ${JSON.stringify(r.events)}`);
  const { before, after: end } = r;
  assert.equal(end.jsThreads, before.jsThreads, 'the same threads at both ends (the closing burst restarts a crashed shard)');
  assert.ok(end.udpSockets <= before.udpSockets, `UDP sockets: ${before.udpSockets} before, ${end.udpSockets} after`);
  const rest = (s: typeof before) => s.fds - (s.fdKinds.tcp ?? 0);
  assert.ok(
    rest(end) <= rest(before) && (end.fdKinds.tcp ?? 0) <= (before.fdKinds.tcp ?? 0) + TCP_SLACK,
    `fds: ${JSON.stringify(before.fdKinds)} before, ${JSON.stringify(end.fdKinds)} after`,
  );
  assert.ok(end.timers <= before.timers + TIMER_SLACK, `timers: ${before.timers} before, ${end.timers} after (${JSON.stringify(end.resources)})`);
});
