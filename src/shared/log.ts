// drake's own log: one line per event on stderr, plus a bounded ring the API can serve later.
// The ring lives on the main thread (the gateway serves it); the actors' worker threads (streams, peer
// shards, WHIP publications) write their own stderr lines and send each entry to it over a
// BroadcastChannel, so /api/v3/log shows what the streams say too. Log lines are events, not per packet.
import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import { redact } from './redact.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogEntry {
  ts: number;
  level: LogLevel;
  component: string;
  message: string;
}

const RING_SIZE = 1000;
const ring: LogEntry[] = [];
let threshold = LEVELS[(process.env.DRAKE_LOG_LEVEL as LogLevel) ?? 'info'] ?? LEVELS.info;

export function setLogLevel(level: LogLevel): void {
  threshold = LEVELS[level];
}

export function recentLog(): readonly LogEntry[] {
  return ring;
}

const CHANNEL = 'drake:log';

function keep(entry: LogEntry): void {
  ring.push(entry);
  if (ring.length > RING_SIZE) ring.shift();
}

function isEntry(v: unknown): v is LogEntry {
  const e = v as Partial<LogEntry> | null;
  return typeof e === 'object' && e !== null && typeof e.ts === 'number' && typeof e.level === 'string' && e.level in LEVELS &&
    typeof e.component === 'string' && typeof e.message === 'string';
}

/** Main thread: takes the workers' entries. Worker: where its entries go (made on the first one). */
let channel: BroadcastChannel | null = null;
if (isMainThread) {
  channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = (ev) => {
    const data = (ev as MessageEvent).data;
    if (isEntry(data)) keep(data);
  };
  channel.unref(); // never what keeps a process alive
}

function toRing(entry: LogEntry): void {
  if (isMainThread) return keep(entry);
  if (!channel) {
    channel = new BroadcastChannel(CHANNEL);
    channel.unref();
  }
  channel.postMessage(entry);
}

export class Logger {
  readonly #component: string;
  constructor(component: string) {
    this.#component = component;
  }
  debug(message: string): void {
    this.#write('debug', message);
  }
  info(message: string): void {
    this.#write('info', message);
  }
  warn(message: string): void {
    this.#write('warn', message);
  }
  error(message: string): void {
    this.#write('error', message);
  }
  #write(level: LogLevel, message: string): void {
    // The ring (served by /api/v3/log) keeps info and above whatever the console shows.
    if (LEVELS[level] < Math.min(threshold, LEVELS.info)) return;
    const entry = { ts: Date.now(), level, component: this.#component, message: redact(message) };
    toRing(entry);
    if (LEVELS[level] < threshold) return;
    process.stderr.write(`${new Date(entry.ts).toISOString()} ${level.padEnd(5)} [${this.#component}] ${entry.message}\n`);
  }
}
