// The WHEP server-sent events extension: advertised on the 201, one event stream per POST to the
// session's /sse URL, events tied to the FFmpeg process (active/inactive/reconnect) and its viewers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { addLiveProcess } from '../helpers/webrtcProcess.ts';
import { whepView, type WhepViewer } from '../helpers/whepClient.ts';

const REL = 'urn:ietf:params:whep:ext:core:server-sent-events';

/** Reads a text/event-stream with fetch and collects its events. */
async function subscribe(url: string) {
  const ctl = new AbortController();
  const res = await fetch(url, { signal: ctl.signal });
  const events: Array<{ event: string; data: unknown }> = [];
  let ended = false;
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event) events.push({ event, data: JSON.parse(data ?? 'null') });
        }
      }
    } catch {
      // aborted
    }
    ended = true;
  })();
  return { res, events, ended: () => ended, names: () => events.map((e) => e.event), close: () => ctl.abort(), reading };
}

function sseLink(v: WhepViewer): string {
  const link = v.headers.get('link') ?? '';
  const m = new RegExp(`<([^>]+)>; rel="${REL}"; events="([^"]+)"`).exec(link);
  assert.ok(m, `Link advertises the SSE extension: ${link}`);
  assert.deepEqual(m[2]!.split(','), ['active', 'inactive', 'reconnect', 'viewercount']);
  return m[1]!;
}

describe('WHEP server-sent events', () => {
  let drake: TestDrake;
  const viewers: WhepViewer[] = [];
  before(async () => {
    drake = await startDrake({ webrtc: { viewer_timeout_seconds: 3 } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    await drake.stop(true);
  });
  const view = async () => {
    const v = await whepView(`${drake.url}/whep/cam`);
    viewers.push(v);
    assert.equal(v.status, 201);
    return v;
  };
  const create = (sse: string, body?: unknown, contentType = 'application/json') =>
    fetch(`${drake.url}${sse}`, { method: 'POST', ...(body !== undefined ? { headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });

  test('201 links the extension; POST → 201 + Location; active and viewercount arrive; a restart sends inactive, active and reconnect', async () => {
    const v = await view();
    const sse = sseLink(v);
    assert.equal(sse, `${v.location}/sse`);
    const made = await create(sse, ['active', 'inactive', 'reconnect', 'viewercount']);
    assert.equal(made.status, 201);
    const loc = made.headers.get('location')!;
    assert.match(loc, new RegExp(`^${v.location}/sse/[0-9a-f]{32}$`));
    const s = await subscribe(`${drake.url}${loc}`);
    assert.equal(s.res.status, 200);
    assert.equal(s.res.headers.get('content-type'), 'text/event-stream');
    await waitFor('active + viewercount', async () => s.names().includes('active') && s.names().includes('viewercount'), 5000);
    assert.deepEqual(s.events.find((e) => e.event === 'viewercount')!.data, { viewercount: 1 });
    const second = await view();
    await waitFor('viewercount 2', async () => s.events.some((e) => e.event === 'viewercount' && (e.data as { viewercount: number }).viewercount === 2), 5000);
    await second.close();
    const mark = s.events.length;
    assert.equal((await drake.api('PUT', '/api/v3/process/cam/command', { command: 'restart' })).status, 200);
    await waitFor('inactive, active, reconnect', async () => {
      const after = s.events.slice(mark).map((e) => e.event).filter((e) => e !== 'viewercount');
      return after.join(',') === 'inactive,active,reconnect';
    }, 15_000);
    // Ending the WHEP session ends its event streams; the URL is gone.
    assert.equal((await fetch(`${drake.url}${v.location}`, { method: 'DELETE' })).status, 200);
    await waitFor('the event stream ended', async () => s.ended(), 5000);
    assert.equal((await fetch(`${drake.url}${loc}`)).status, 404);
  });

  test('only the events asked for; DELETE ends the stream (404 after); bad bodies and unknown sessions are refused', async () => {
    const v = await view();
    const sse = sseLink(v);
    const made = await create(sse, ['inactive']);
    const loc = made.headers.get('location')!;
    const s = await subscribe(`${drake.url}${loc}`);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(s.names(), [], 'no active, no viewercount: not asked for');
    assert.equal((await fetch(`${drake.url}${loc}`, { method: 'DELETE' })).status, 200);
    await waitFor('ended', async () => s.ended(), 5000);
    assert.equal((await fetch(`${drake.url}${loc}`)).status, 404);
    assert.equal((await fetch(`${drake.url}${loc}`, { method: 'DELETE' })).status, 404);
    // No body: every event drake has. A session keeps at most 4 event streams: a fifth ends the oldest.
    const locs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await create(sse);
      assert.equal(r.status, 201);
      locs.push(r.headers.get('location')!);
    }
    assert.equal((await fetch(`${drake.url}${locs[0]}`, { method: 'DELETE' })).status, 404, 'the oldest was ended');
    assert.equal((await fetch(`${drake.url}${locs[4]}`, { method: 'DELETE' })).status, 200);
    assert.equal((await create(sse, ['bogus'])).status, 400);
    assert.equal((await create(sse, '{not json')).status, 400);
    assert.equal((await create(sse, { active: true })).status, 400);
    assert.equal((await create(sse, ['active'], 'text/plain')).status, 415);
    assert.equal((await create(`/whep/cam/${'0'.repeat(32)}/sse`, ['active'])).status, 404);
    assert.equal((await fetch(`${drake.url}${v.location}/sse/${'0'.repeat(32)}`)).status, 404);
  });

  test('a session that ends without DELETE (the viewer hangs up) ends its event streams too', async () => {
    const v = await view();
    const made = await create(sseLink(v), ['viewercount']);
    const loc = made.headers.get('location')!;
    const s = await subscribe(`${drake.url}${loc}`);
    await waitFor('a first viewercount', async () => s.names().includes('viewercount'), 5000);
    // Let it send receiver reports first, then hang up without DELETE: drake drops the silent viewer
    // after webrtc.viewer_timeout_seconds (3 here).
    await new Promise((r) => setTimeout(r, 2000));
    await v.pc.close();
    await waitFor('the event stream ended with the session', async () => s.ended(), 15_000);
    assert.equal((await fetch(`${drake.url}${loc}`)).status, 404);
  });
});
