// drake's own log: one line per event on stderr, plus a bounded ring the API can serve later.
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
    ring.push(entry);
    if (ring.length > RING_SIZE) ring.shift();
    if (LEVELS[level] < threshold) return;
    process.stderr.write(`${new Date(entry.ts).toISOString()} ${level.padEnd(5)} [${this.#component}] ${entry.message}\n`);
  }
}
