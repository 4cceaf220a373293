// `npx tsx bench/iceLite.ts [--viewers 20] [--window 20] [--rounds 2]`: what ICE costs per viewer on the
// shared port, full ICE (webrtc.ice_lite off) against ICE-lite (on). One drake child per
// round and mode (lean, shared port, a small 320x240@15 300 kbit/s source so that media does not drown
// the difference), N werift viewers in this process. Per viewer it counts STUN datagrams on the viewer's
// own ICE socket, both ways; for drake it reads its process CPU (all threads, FFmpeg not included) from
// /proc over the window.
import { parseArgs } from 'node:util';
import type { RTCPeerConnection } from 'werift';
import { startBenchDrake } from './lib/source.ts';
import { waitFor } from '../test/helpers/waitFor.ts';
import { videoCount, whepView, type WhepViewer } from '../test/helpers/whepClient.ts';

const { values } = parseArgs({ options: { viewers: { type: 'string' }, window: { type: 'string' }, rounds: { type: 'string' } } });
const N = Number(values.viewers ?? 20);
const WINDOW_S = Number(values.window ?? 20);
const ROUNDS = Number(values.rounds ?? 2);

interface StunCount {
  /** drake → viewer */
  requestsIn: number;
  responsesIn: number;
  /** viewer → drake */
  requestsOut: number;
  responsesOut: number;
}

const isStun = (d: Buffer) => d.length >= 20 && (d[0]! & 0xc0) === 0 && d.readUInt32BE(4) === 0x2112a442;

function countStun(pc: RTCPeerConnection): StunCount {
  const c: StunCount = { requestsIn: 0, responsesIn: 0, requestsOut: 0, responsesOut: 0 };
  const conn = pc.iceTransports[0]!.connection as unknown as { protocols: Array<{ transport: { onData: (d: Buffer, a: unknown) => void; send: (d: Buffer, a?: unknown) => Promise<void> } }> };
  for (const p of conn.protocols) {
    const t = p.transport;
    const onData = t.onData;
    t.onData = (d, a) => {
      if (isStun(d)) (d.readUInt16BE(0) & 0x0110) === 0 ? c.requestsIn++ : c.responsesIn++;
      onData(d, a);
    };
    const send = t.send.bind(t);
    t.send = (d, a) => {
      if (isStun(d)) (d.readUInt16BE(0) & 0x0110) === 0 ? c.requestsOut++ : c.responsesOut++;
      return send(d, a);
    };
  }
  return c;
}

async function round(iceLite: boolean): Promise<Record<string, number | string>> {
  const d = await startBenchDrake('lean', { webrtc: { ice_lite: iceLite ? 'on' : 'off' } }, { size: '320x240', rate: 15, kbit: 300 });
  const viewers: WhepViewer[] = [];
  try {
    for (let i = 0; i < N; i++) viewers.push(await whepView(d.whepUrl, { keepVideo: 0 }));
    await waitFor('every viewer has video', async () => viewers.every((v) => videoCount(v) > 10), 60_000, 200);
    await new Promise((r) => setTimeout(r, 3000));
    const counts = viewers.map((v) => countStun(v.pc));
    const a = d.child.sample();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const b = d.child.sample();
    const s = (performance.now() - t0) / 1000;
    const sum = (k: keyof StunCount) => counts.reduce((n, c) => n + c[k], 0) / N / s;
    return {
      mode: iceLite ? 'ice-lite' : 'full ICE',
      viewers: N,
      drakeCpuPct: Number((((b.drakeCpu - a.drakeCpu) / s) * 100).toFixed(1)),
      'drake→viewer STUN req/s': Number(sum('requestsIn').toFixed(3)),
      'drake→viewer STUN resp/s': Number(sum('responsesIn').toFixed(3)),
      'viewer→drake STUN req/s': Number(sum('requestsOut').toFixed(3)),
      'viewer→drake STUN resp/s': Number(sum('responsesOut').toFixed(3)),
    };
  } finally {
    await Promise.all(viewers.map((v) => v.close()));
    await d.child.stop();
  }
}

const rows: Array<Record<string, number | string>> = [];
for (let r = 0; r < ROUNDS; r++) for (const lite of r % 2 ? [true, false] : [false, true]) rows.push(await round(lite));
console.table(rows);
process.exit(0);
