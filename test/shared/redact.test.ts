import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redact } from '../../src/shared/redact.ts';

test('redact: URL passwords, Authorization headers and secret parameters; the rest stays readable', () => {
  const cases: Array<[string, string]> = [
    ["[hls @ 0x5] Opening 'http://admin:s3cr%2Ft@127.0.0.1:8080/memfs/a.ts' for writing", "[hls @ 0x5] Opening 'http://admin:***@127.0.0.1:8080/memfs/a.ts' for writing"],
    ['rtmp://user:pa:ss@host/live/x', 'rtmp://user:***@host/live/x'],
    ['[f=hls]http\\\\://admin\\\\:pw@127.0.0.1\\\\:8080/memfs/x.m3u8', '[f=hls]http\\\\://admin\\\\:***@127.0.0.1\\\\:8080/memfs/x.m3u8'],
    ['Authorization: Basic YWRtaW46cHc=\r\n', 'Authorization: Basic ***\r\n'],
    ['-headers authorization:Bearer abc.def.ghi', '-headers authorization:Bearer ***'],
    ['srt://127.0.0.1:6000?mode=caller&passphrase=longsecret123&latency=200', 'srt://127.0.0.1:6000?mode=caller&passphrase=***&latency=200'],
    ['rtmp://h/app/name?token=abc', 'rtmp://h/app/name?token=***'],
    ['srt://h:6000?latency=20000&streamid=cam1,mode:request,token:k3y-T0k&passphrase=pass-phrase-1', 'srt://h:6000?latency=20000&streamid=cam1,mode:request,token:***&passphrase=***'],
    ['srt://h:6000?streamid=#!::r=cam1,m=publish,token=abc', 'srt://h:6000?streamid=#!::r=cam1,m=publish,token=***'],
    ['http://127.0.0.1:8080/memfs/x.m3u8', 'http://127.0.0.1:8080/memfs/x.m3u8'],
    ['user@example.com wrote 12 frames', 'user@example.com wrote 12 frames'],
    ['frame=  100 fps= 25 q=28.0 size=     256kB time=00:00:04.00 bitrate= 524.3kbits/s speed=1x', 'frame=  100 fps= 25 q=28.0 size=     256kB time=00:00:04.00 bitrate= 524.3kbits/s speed=1x'],
  ];
  for (const [input, expected] of cases) assert.equal(redact(input), expected, input);
});
