// drake's SRT server addon on its own (no drake around it), with real libsrt callers (FFmpeg): what a hostile
// caller's stream id can carry into drake's log, and the server's lifecycle in one process (start/stop with
// publishers, players and refused callers connected, the same UDP port again at once, no fds left behind).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, test } from 'node:test';
import { FFMPEG, haveFfmpeg, runFfmpeg } from '../helpers/fsServer.ts';
import { callerUrl, publishArgs, skipNative, srtAddon as addon, udpPortFree } from '../helpers/srt.ts';
import { freePort, waitFor } from '../helpers/drake.ts';


describe('native SRT server: hostile callers and lifecycle', { skip: skipNative || (haveFfmpeg() ? false : 'no FFmpeg') }, () => {
  const options = (port: number, passphrase = '') => ({ host: '127.0.0.1', port, passphrase, token: '', maxConnections: 16, latencyMs: 20 });
  const exited = (c: ChildProcess) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('close', () => resolve())));
  const openFds = () => readdirSync('/proc/self/fd').map((fd) => { try { return `${fd}:${readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return fd; } });

  test('a refused caller\'s stream id reaches the log as printable text only (no forged lines, no escapes)', async () => {
    const events: Array<{ type: string; name: string; code: number }> = [];
    const h = addon!.start(options(0), (e) => events.push(e));
    try {
      // FFmpeg's srt_streamid passes the bytes on as they are (`streamid=` in the URL is not decoded).
      const forged = 'x\n2026-01-01T00:00:00.000Z info  [srt] forged line\u001b[2J\u007fä,mode:publish';
      const run = await runFfmpeg(['-f', 'lavfi', '-t', '1', '-i', 'testsrc=size=64x48:rate=5', '-f', 'mpegts', '-srt_streamid', forged, `srt://127.0.0.1:${addon!.port(h)}`], 10_000).done;
      assert.notEqual(run.code, 0, 'an invalid name is refused');
      await waitFor('the refusal event', async () => events.some((e) => e.type === 'refused'), 5000);
      const refused = events.find((e) => e.type === 'refused')!;
      assert.equal(refused.code, 1400);
      assert.equal(refused.name, 'x?2026-01-01T00:00:00.000Z info  [srt] forged line?[2J???', 'control and non-ASCII bytes become ?');
    } finally {
      addon!.stop(h);
    }
  });

  test('start/stop in one process with publishers, players and refused callers: prompt stops, the same port again, no leaked fds', async () => {
    const port = await freePort();
    addon!.stop(addon!.start(options(port), () => {}));
    await new Promise((resolve) => setTimeout(resolve, 100)); // freePort's probe socket closes meanwhile
    const fdsBefore = openFds();
    for (let cycle = 0; cycle < 3; cycle++) {
      const passphrase = cycle === 1 ? 'cycle-pass-phrase' : '';
      const events: Array<{ type: string; name: string }> = [];
      const h = addon!.start(options(port, passphrase), (e) => events.push(e));
      const pp = passphrase ? `&passphrase=${passphrase}` : '';
      const spawnFf = (args: string[]) => spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'quiet', ...args], { stdio: 'ignore' });
      const children = [spawnFf(publishArgs(callerUrl(port, 'cam,mode:publish', pp), 30))];
      try {
        await waitFor('published', async () => events.some((e) => e.type === 'publish'), 10_000);
        children.push(spawnFf(['-i', callerUrl(port, 'cam,mode:request', pp), '-c', 'copy', '-f', 'null', '-']));
        await waitFor('played', async () => events.some((e) => e.type === 'play'), 10_000);
        // Refused and broken callers while both run: a wrong (or missing) passphrase, a duplicate publisher,
        // an unknown name, a malformed id, and a player killed mid-stream.
        const bad = [
          callerUrl(port, 'cam,mode:request', passphrase ? '&passphrase=not-the-right-one' : '&passphrase=some-pass-phrase'),
          callerUrl(port, 'cam,mode:publish', pp),
          callerUrl(port, 'nothere,mode:request', pp),
          callerUrl(port, '#!::r=,m=,token=', pp),
        ].map((url) => runFfmpeg(['-i', url, '-t', '1', '-f', 'null', '-'], 10_000).done);
        const killed = spawnFf(['-i', callerUrl(port, 'cam,mode:request', pp), '-f', 'null', '-']);
        await waitFor('second player', async () => events.filter((e) => e.type === 'play').length >= 2, 10_000);
        killed.kill('SIGKILL');
        for (const r of await Promise.all(bad)) assert.notEqual(r.code, 0, 'refused');
        await waitFor('the killed player is gone', async () => events.some((e) => e.type === 'play-end'), 10_000);
        assert.equal(addon!.connections(h).filter((c) => c.mode === 'publish').length, 1, 'the publisher goes on');
        assert.ok(addon!.counters(h).relayed > 0);
      } finally {
        const started = Date.now();
        addon!.stop(h); // with the publisher and a player still connected
        assert.ok(Date.now() - started < 1000, `stop took ${Date.now() - started} ms`);
        assert.deepEqual(addon!.connections(h), [], 'nothing left after stop');
        addon!.stop(h);
        for (const c of children) c.kill('SIGKILL');
        await Promise.all(children.map(exited));
      }
    }
    for (let i = 0; i < 30; i++) addon!.stop(addon!.start(options(port), () => {}));
    assert.equal(await udpPortFree(port), true, 'the port is free once stopped');
    const fdsAfter = openFds();
    assert.ok(fdsAfter.length <= fdsBefore.length, `fds left behind: ${fdsAfter.filter((f) => !fdsBefore.includes(f)).join(' ')}`);
  });
});
