// piscina worker entry for bench/loadViewer.ts: the tsx loader does not reach worker threads on
// Node 20, so register it here and load the TypeScript module on the first task.
import { register } from 'tsx/esm/api';

register();
const viewer = import('./loadViewer.ts');
viewer.catch(() => undefined); // reported by the first task instead

export default async function run(task) {
  return (await viewer).default(task);
}
