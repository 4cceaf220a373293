// What every load viewer shares, whichever WebRTC stack it runs on (werift in bench/loadViewer.ts,
// libwebrtc in bench/libwebrtcViewers.ts): the WHEP POST/DELETE with retries, the join timings, and
// the task flow a runner follows (join → 'joined' → marks → 'leave' → results). A runner is a piscina
// worker (MessagePort) or a child process (IPC); both reach the session through a TaskLink.
import type { MainToWorker, ViewerCounters, ViewerResult, ViewerTask, WorkerToMain } from '../loadViewer.ts';

/** The runner's end of its channel to the LoadSession. */
export interface TaskLink {
  post(m: WorkerToMain): void;
  onMessage(cb: (m: MainToWorker) => void): void;
  close(): void;
}

export type LoadTask = Omit<ViewerTask, 'port'>;

export abstract class WhepViewer {
  readonly index: number;
  status = 0;
  attempts = 0;
  readonly failedStatuses: number[] = [];
  error: string | undefined;
  location: string | null = null;
  postedAt = 0;
  answeredAt = 0;
  connectedAt = 0;
  firstPacketAt = 0;
  firstVideoAt = 0;
  firstKeyframeAt = 0;
  /** Packets this viewer decrypted itself (werift's sampling; libwebrtc decrypts all and does not say). */
  decrypted = 0;
  #done: () => void = () => undefined;
  /** Resolves once the viewer has video, or failed. */
  readonly settled: Promise<void>;

  constructor(index: number) {
    this.index = index;
    this.settled = new Promise((r) => (this.#done = r));
  }

  /** A fresh peer connection and its offer, with every candidate in it (non-trickle). */
  abstract prepare(): Promise<string>;
  /** Applies drake's answer to the connection prepare() made. */
  protected abstract accept(answer: string): Promise<void>;
  abstract counters(): ViewerCounters | Promise<ViewerCounters>;
  protected abstract closePc(): Promise<void>;

  /** The first video packet arrived. */
  protected gotVideo(): void {
    if (this.firstVideoAt) return;
    this.firstVideoAt = Date.now();
    this.#done();
  }

  fail(why: string): void {
    this.error ??= why;
    this.#done();
  }

  /** One POST; false when it did not get a 201 (status/error recorded). */
  async post(url: string, offer: string): Promise<boolean> {
    this.attempts++;
    this.postedAt = Date.now();
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
      this.status = res.status;
      const body = await res.text();
      this.answeredAt = Date.now();
      if (res.status !== 201) {
        this.failedStatuses.push(res.status);
        this.error = `POST ${res.status}: ${body.slice(0, 200)}`;
        return false;
      }
      this.error = undefined;
      const loc = res.headers.get('location');
      this.location = loc ? new URL(loc, url).href : null;
      await this.accept(body);
      return true;
    } catch (err) {
      this.failedStatuses.push(0);
      this.status = 0;
      this.error = `POST: ${err instanceof Error ? err.message : String(err)}`;
      return false;
    }
  }

  async leave(): Promise<void> {
    if (this.location) await fetch(this.location, { method: 'DELETE' }).catch(() => undefined);
    await this.closePc().catch(() => undefined);
  }

  /** Call before leave(): a closed connection may report no counters. */
  async result(): Promise<ViewerResult> {
    const rel = (t: number) => (t && this.postedAt ? t - this.postedAt : null);
    return {
      index: this.index,
      status: this.status,
      attempts: this.attempts,
      failedStatuses: this.failedStatuses,
      ...(this.error !== undefined ? { error: this.error } : {}),
      answerMs: rel(this.answeredAt),
      connectedMs: rel(this.connectedAt),
      firstPacketMs: rel(this.firstPacketAt),
      firstVideoMs: rel(this.firstVideoAt),
      firstKeyframeMs: rel(this.firstKeyframeAt),
      postedAt: this.postedAt,
      decrypted: this.decrypted,
      ...(await this.counters()),
    };
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs fn over items with at most `limit` in flight (0: all at once). */
async function pool<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  if (limit <= 0 || limit >= items.length) {
    await Promise.all(items.map(fn));
    return;
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Joins the viewers, then either stays durationMs or follows the link's messages (see bench/loadViewer.ts). */
export async function runLoadTask(task: LoadTask, viewers: WhepViewer[], link: TaskLink | null): Promise<ViewerResult[]> {
  const post = (m: WorkerToMain) => link?.post(m);
  const inbox: MainToWorker[] = [];
  let wake: (() => void) | null = null;
  const nextMessage = async (type: MainToWorker['type'], timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) {
        inbox.splice(i, 1);
        return true;
      }
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, left);
      });
    }
  };
  link?.onMessage((m) => {
    if (m.type === 'mark') {
      void Promise.all(viewers.map((v) => v.counters())).then((counters) => post({ type: 'mark', tag: m.tag, at: Date.now(), counters }));
      return;
    }
    inbox.push(m);
    wake?.();
  });
  const leaveAll = async () => {
    const results = await Promise.all(viewers.map((v) => v.result()));
    await Promise.all(viewers.map((v) => v.leave()));
    return results;
  };
  try {
    const join = async (v: WhepViewer, offer?: string) => {
      try {
        let ok = await v.post(task.url, offer ?? (await v.prepare()));
        for (let r = 0; !ok && r < (task.retries ?? 0); r++) {
          await sleep(300);
          ok = await v.post(task.url, await v.prepare());
        }
        if (!ok) v.fail(v.error ?? 'POST failed');
      } catch (err) {
        v.fail(err instanceof Error ? err.message : String(err));
      }
      const timer = setTimeout(() => v.fail(`no video within ${task.joinTimeoutMs} ms`), Math.max(0, v.postedAt + task.joinTimeoutMs - Date.now()));
      await v.settled;
      clearTimeout(timer);
    };
    if (task.waitGo && link) {
      const offers = await Promise.all(viewers.map((v) => v.prepare()));
      post({ type: 'prepared' });
      await nextMessage('go', task.durationMs);
      await Promise.all(viewers.map((v, i) => join(v, offers[i])));
    } else {
      await pool(viewers, task.joinConcurrency, (v) => join(v));
    }
    const failed = viewers.filter((v) => !v.firstVideoAt).length;
    post({ type: 'joined', ok: viewers.length - failed, failed });
    if (link) await nextMessage('leave', task.durationMs);
    else await sleep(task.durationMs);
    return await leaveAll();
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    await Promise.all(viewers.map((v) => v.leave()));
    throw err;
  } finally {
    link?.close();
  }
}
