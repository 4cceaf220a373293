// Burst send micro-benchmark: what one pacer tick of join/PLI bursts costs to send, per packet, three ways:
//   per-packet   one sendmmsg per packet (count 1), as LeanSender.write sent bursts before BurstBatch
//   batched      the tick's packets in one sendBatch, plain mmsghdr entries (DRAKE_GSO=0)
//   gso          the same call with UDP GSO: each viewer's run of equal-size packets is one UDP_SEGMENT train
// Each with the SRTP step (protectInto into the batch, AES_CM_128_HMAC_SHA1_80) and without (ready packets).
// A tick: V viewers × P packets each (1200-byte RTP like FFmpeg's FU-A fragments, every 8th a shorter frame end),
// to a drain child process with one UDP socket per viewer. Variants alternate, R repetitions; the table gives the
// median sender CPU (process.cpuUsage, user+sys) per packet and syscalls per packet. Loopback: the receive side's
// softirq is charged to the sender as well, as in reference/srtp-limit.md.
//   node --import tsx bench/burstSend.ts [viewers=8] [perViewer=30] [ticks=400] [reps=5]
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Destinations, socketFd } from '../src/shared/srtp/index.ts';
import { loadAddon } from '../src/shared/srtp/nativeBackend.ts';

if (process.argv[2] === 'drain') {
  const n = Number(process.argv[3]);
  const ports: number[] = [];
  let got = 0;
  for (let i = 0; i < n; i++) {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    s.on('message', () => got++);
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    ports.push(s.address().port);
  }
  process.send!({ ports });
  process.on('message', () => process.send!({ got }));
} else {
  const [V = 8, P = 30, TICKS = 400, REPS = 5] = process.argv.slice(2).map(Number);
  const addon = loadAddon().addon;
  if (!addon) throw new Error('native addon not built (node native/srtp/build.mjs)');
  const drain = fork(fileURLToPath(import.meta.url), ['drain', String(V)], { execArgv: ['--import', 'tsx'] });
  const [{ ports }] = (await once(drain, 'message')) as [{ ports: number[] }];
  const tx = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  tx.bind(0, '127.0.0.1');
  await once(tx, 'listening');
  const fd = socketFd(tx);

  const K = V * P;
  const stride = 1500 + 16;
  const out = Buffer.alloc(K * stride);
  const lengths = new Uint32Array(K);
  const dests = new Destinations(K);
  const one = new Destinations(1);
  const ctxs = Array.from({ length: V }, (_, v) => addon.createContext(1, Buffer.alloc(16, v + 1), Buffer.alloc(14, v + 7)));
  const src = Buffer.alloc(1200, 0x5a);
  src[0] = 0x80;
  const srcShort = src.subarray(0, 411);
  const hdr = Buffer.alloc(12);
  const seq = new Uint16Array(V);
  // Slot order as the pacer fills it: viewer by viewer, each viewer's packets back to back.
  for (let v = 0; v < V; v++) for (let p = 0; p < P; p++) dests.set(v * P + p, '127.0.0.1', ports[v]!);
  const protectTick = (): void => {
    for (let v = 0; v < V; v++) {
      for (let p = 0; p < P; p++) {
        const i = v * P + p;
        hdr[1] = 96;
        hdr.writeUInt16BE(seq[v]!++, 2);
        hdr.writeUInt32BE(3000 * Math.floor(p / 8), 4);
        hdr.writeUInt32BE(0x1000 + v, 8);
        addon.protectInto(ctxs[v]!, p % 8 === 7 ? srcShort : src, hdr, out, i, stride, lengths);
      }
    }
  };
  protectTick();
  const counters = new Float64Array(6);
  const variants = {
    'per-packet': (): void => {
      for (let i = 0; i < K; i++) {
        one.copyFrom(0, dests, i);
        addon.sendBatch(fd, out.subarray(i * stride, (i + 1) * stride), stride, lengths.subarray(i, i + 1), one.addrs, 1, false, counters);
      }
    },
    batched: (): void => void addon.sendBatch(fd, out, stride, lengths, dests.addrs, K, false, counters),
    gso: (): void => void addon.sendBatch(fd, out, stride, lengths, dests.addrs, K, true, counters),
  };
  type Name = keyof typeof variants;
  const results: Record<string, { cpu: number[]; sys: number[] }> = {};
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (let rep = 0; rep < REPS; rep++) {
    for (const withSrtp of [false, true]) {
      const names = Object.keys(variants) as Name[];
      for (const name of rep % 2 ? names.reverse() : names) {
        const key = `${name}${withSrtp ? ' + SRTP' : ''}`;
        counters.fill(0);
        const t0 = process.cpuUsage();
        for (let t = 0; t < TICKS; t++) {
          if (withSrtp) protectTick();
          variants[name]();
          // The drain must keep up: the pacer's ticks are 5 ms apart; here every 10th tick yields a moment.
          if (t % 10 === 9) await sleep(1);
        }
        const d = process.cpuUsage(t0);
        const pk = counters[2]!;
        (results[key] ??= { cpu: [], sys: [] }).cpu.push((d.user + d.system) / pk);
        results[key].sys.push(counters[0]! / pk);
        if (pk < K * TICKS * 0.99) console.warn(`${key}: only ${pk} of ${K * TICKS} packets taken by the kernel`);
        await sleep(50);
      }
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  console.log(`\n${V} viewers × ${P} packets per tick (1200-B RTP, every 8th 411 B), ${TICKS} ticks × ${REPS} reps, median sender CPU (user+sys) per packet`);
  console.log('| variant | CPU µs/pkt | sendmmsg calls/pkt | vs per-packet |');
  console.log('|---|---|---|---|');
  for (const withSrtp of ['', ' + SRTP']) {
    const base = med(results[`per-packet${withSrtp}`]!.cpu);
    for (const name of Object.keys(variants)) {
      const r = results[`${name}${withSrtp}`]!;
      console.log(`| ${name}${withSrtp} | ${med(r.cpu).toFixed(2)} | ${med(r.sys).toFixed(3)} | ${(med(r.cpu) / base).toFixed(2)} |`);
    }
  }
  drain.send('count');
  const [{ got }] = (await once(drain, 'message')) as [{ got: number }];
  console.log(`drain received ${got} datagrams`);
  drain.kill();
  tx.close();
}
