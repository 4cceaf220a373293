// The main thread's end of one publish actor's wire (see StreamHandle: the same rules). Calls reject
// with WorkerClosedError once the worker is gone; events are re-emitted one setImmediate later.
import { MessageChannel, type Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from '../../shared/comlinkNode.ts';
import { rebuildError, WorkerClosedError } from '../../shared/errors.ts';
import { TypedEmitter } from '../../shared/events.ts';
import { Logger } from '../../shared/log.ts';
import {
  publishEventSchema,
  type CallResult,
  type PublishActorApi,
  type PublishEvent,
  type PublishInit,
  type WhepCreatedDto,
  type WhepPatchedDto,
  type WhepSessionDto,
  type WhepStatsDto,
  type WhipPublishedDto,
  type WhipPublisherDto,
} from '../../shared/protocol.ts';
import { siblingModule, startWorker } from '../../shared/startWorker.ts';

const log = new Logger('PublishHandle');
const WORKER_ENTRY = siblingModule('worker', import.meta.url);

export interface PublishHandleEvents {
  event: [PublishEvent];
  died: [reason: string];
}

export class PublishHandle extends TypedEmitter<PublishHandleEvents> {
  readonly #worker: Worker;
  readonly #remote: Comlink.Remote<PublishActorApi>;
  readonly #closed: Promise<never>;
  #reject!: (err: Error) => void;
  #dead = false;
  #closing = false;

  constructor(name: string) {
    super();
    const { port1, port2 } = new MessageChannel();
    this.#worker = startWorker(WORKER_ENTRY, { workerData: { port: port2 }, transferList: [port2], name: `whip:${name}` });
    this.#closed = new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    this.#closed.catch(() => undefined);
    this.#remote = Comlink.wrap<PublishActorApi>(nodeEndpoint(port1));
    port1.on('message', (data: unknown) => {
      if (!data || typeof data !== 'object' || !('event' in data)) return;
      const parsed = publishEventSchema.safeParse(data);
      if (!parsed.success) return log.warn(`dropping malformed event from WHIP stream ${name}`);
      setImmediate(() => this.safeEmit('event', parsed.data));
    });
    let lastError = '';
    this.#worker.on('error', (err) => {
      lastError = err.message;
    });
    this.#worker.on('exit', (code) => {
      this.#dead = true;
      port1.close();
      const reason = lastError ? `WHIP worker crashed: ${lastError}` : `WHIP worker exited with code ${code}`;
      this.#reject(new WorkerClosedError(reason));
      if (!this.#closing) setImmediate(() => this.safeEmit('died', reason));
    });
  }

  async #call<T>(method: string, invoke: () => Promise<CallResult<T>>): Promise<T> {
    if (this.#dead) throw new WorkerClosedError(`WHIP worker is gone (${method})`);
    const result = await Promise.race([invoke(), this.#closed]);
    if (!result.ok) throw rebuildError(result.error);
    return result.value;
  }

  init(init: PublishInit): Promise<void> {
    return this.#call('init', () => this.#remote.init(init));
  }
  publish(offer: string): Promise<WhipPublishedDto> {
    return this.#call('publish', () => this.#remote.publish(offer));
  }
  patch(frag: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    return this.#call('patch', () => this.#remote.patch(frag, ifMatch));
  }
  info(): Promise<WhipPublisherDto> {
    return this.#call('info', () => this.#remote.info());
  }
  addReader(): Promise<string> {
    return this.#call('addReader', () => this.#remote.addReader());
  }
  whepCreate(offer: string): Promise<WhepCreatedDto> {
    return this.#call('whepCreate', () => this.#remote.whepCreate(offer));
  }
  whepPatch(sessionId: string, frag: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    return this.#call('whepPatch', () => this.#remote.whepPatch(sessionId, frag, ifMatch));
  }
  whepDelete(sessionId: string): Promise<boolean> {
    return this.#call('whepDelete', () => this.#remote.whepDelete(sessionId));
  }
  whepSessions(): Promise<WhepSessionDto[]> {
    return this.#call('whepSessions', () => this.#remote.whepSessions());
  }
  whepStats(): Promise<WhepStatsDto> {
    return this.#call('whepStats', () => this.#remote.whepStats());
  }

  /** Ends the publication (viewers closed, publisher's peer closed), then the thread. Idempotent. */
  async close(reason: string): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (!this.#dead) {
      await this.#call('close', () => this.#remote.close(reason)).catch(() => undefined);
      this.#remote[Comlink.releaseProxy]();
    }
    await this.#worker.terminate();
  }
}
