// Entry of a WHIP publish actor's worker thread: the PublishActor over comlink on the port the
// ingest handed over, events posted on the same port (ordered with the replies).
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from '../../shared/comlinkNode.ts';
import { toCallResult as guard } from '../../shared/callResult.ts';
import type { PublishActorApi, PublishEvent } from '../../shared/protocol.ts';
import { PublishActor } from './PublishActor.ts';

const port = (workerData as { port: MessagePort }).port;
let actor: PublishActor | null = null;

function need(): PublishActor {
  if (!actor) throw new Error('publish actor not initialised');
  return actor;
}

const api: PublishActorApi = {
  init: (init) =>
    guard(() => {
      if (actor) throw new Error('publish actor already initialised');
      actor = new PublishActor(init, (event: PublishEvent) => port.postMessage(event));
    }),
  publish: (offer) => guard(() => need().publish(offer)),
  patch: (frag, ifMatch) => guard(() => need().patch(frag, ifMatch)),
  info: () => guard(() => need().info()),
  addReader: () => guard(() => need().addReader()),
  whepCreate: (offer) => guard(() => need().whepCreate(offer)),
  whepPatch: (id, frag, ifMatch) => guard(() => need().whepPatch(id, frag, ifMatch)),
  whepDelete: (id) => guard(() => need().whepDelete(id)),
  whepSessions: () => guard(() => need().whepSessions()),
  whepStats: () => guard(() => need().whepStats()),
  close: (reason) => guard(() => actor?.close(reason)),
};

Comlink.expose(api, nodeEndpoint(port));
