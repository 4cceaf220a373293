// A WHEP viewer on a second, independent stack: libdatachannel (libjuice ICE, OpenSSL DTLS, libsrtp)
// through node-datachannel. It keeps the decrypted video RTP and counts audio RTP. The peers live in a child
// process (ndcHost.ts) that this helper starts and kills: a libdatachannel crash at teardown cannot take the
// test process, and its report, with it. NDC_LOG=Warning prints libdatachannel's own log.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface NdcViewer {
  status: number;
  answer: string;
  location: string | null;
  /** Decrypted video RTP packets (RTCP filtered out), as the host reports them (every 50 ms). */
  video: Buffer[];
  audioCount(): number;
  /** Connection, ICE and signaling state, bytes and packets received: for a failure message. */
  describe(): string;
  close(): void;
}

interface Viewed {
  status?: number;
  answer?: string;
  location?: string | null;
  error?: string;
}
type HostOut = ({ op: 'ready' | 'viewed'; id: number } & Viewed) | { op: 'state'; id: number; audio: number; describe: string; video: string[] };

interface Entry {
  viewer: NdcViewer;
  audio: number;
  state: string;
  viewed: (m: Viewed) => void;
}

let host: ChildProcess | null = null;
let hostReady: Promise<ChildProcess> | null = null;
let nextId = 1;
const entries = new Map<number, Entry>();

function startHost(): Promise<ChildProcess> {
  hostReady ??= new Promise<ChildProcess>((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./ndcHost.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    host = child;
    child.on('message', (m: HostOut) => {
      if (m.op === 'ready') return resolve(child);
      const e = entries.get(m.id);
      if (!e) return;
      if (m.op === 'viewed') e.viewed(m);
      else if (m.op === 'state') {
        for (const b of m.video) e.viewer.video.push(Buffer.from(b, 'base64'));
        e.audio = m.audio;
        e.state = m.describe;
      }
    });
    child.once('exit', (code, signal) => {
      host = null;
      hostReady = null;
      for (const e of entries.values()) e.state = `libdatachannel host exited (${signal ?? code})`;
      reject(new Error(`libdatachannel host exited before it was ready (${signal ?? code})`));
    });
  });
  return hostReady;
}

export async function ndcView(url: string): Promise<NdcViewer> {
  const child = await startHost();
  const id = nextId++;
  const entry: Entry = {
    audio: 0,
    state: 'starting',
    viewed: () => undefined,
    viewer: {
      status: 0,
      answer: '',
      location: null,
      video: [],
      audioCount: () => entry.audio,
      describe: () => `${entry.state}, ${entry.viewer.video.length} video + ${entry.audio} audio RTP`,
      close: () => {
        entries.delete(id);
        host?.send({ op: 'close', id });
      },
    },
  };
  entries.set(id, entry);
  const viewed = new Promise<Viewed>((resolve) => (entry.viewed = resolve));
  child.send({ op: 'view', id, url });
  const m = await viewed;
  if (m.error) {
    entries.delete(id);
    throw new Error(m.error);
  }
  entry.viewer.status = m.status ?? 0;
  entry.viewer.answer = m.answer ?? '';
  entry.viewer.location = m.location ?? null;
  return entry.viewer;
}

/** Kills the host (and every libdatachannel peer in it); call after drake has stopped sending to them. */
export async function closeNdcHost(): Promise<void> {
  const child = host;
  if (!child) return;
  entries.clear();
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await gone;
}
