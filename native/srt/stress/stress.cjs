// Caller stress of the SRT server addon in one process (see asan.sh): cycles of start, python3 libsrt callers
// (callers.py) with JS polling connections()/counters() meanwhile, stop; then bare start/stop cycles and stops
// with live callers; prints stop times and the process's open fd count.
const a = require(process.env.ADDON || require('node:path').join(__dirname, '../build/Release/srt_server.node'));
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const fds = () => fs.readdirSync('/proc/self/fd').length;
const cycles = Number(process.env.CYCLES || 6), secs = Number(process.env.SECS || 4);
(async () => {
  const fd0 = fds();
  let events = 0;
  for (let c = 0; c < cycles; c++) {
    const pw = c % 2 ? 'stress-passphrase' : '';
    const h = a.start({ host: '127.0.0.1', port: 0, passphrase: pw, token: '', maxConnections: 24, latencyMs: 20 }, () => events++);
    const port = a.port(h);
    const py = spawn('python3', ['' + require('node:path').join(__dirname, 'callers.py') + '', String(port), String(secs), pw], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, LD_PRELOAD: '' } });
    const poll = setInterval(() => { a.connections(h); a.counters(h); }, 5);
    await new Promise((r) => py.on('exit', r));
    clearInterval(poll);
    const conns = a.connections(h).length;
    const t = Date.now();
    a.stop(h); a.stop(h);
    console.log(`cycle ${c} port ${port} conns-at-stop ${conns} counters ${JSON.stringify(a.counters(h))} stop ${Date.now() - t} ms fds ${fds()}`);
  }
  // start/stop quickly, many times, with nothing connected, and with a live caller at stop
  for (let i = 0; i < 50; i++) { const h = a.start({ host: '127.0.0.1', port: 0, passphrase: '', token: '', maxConnections: 4, latencyMs: 20 }, () => events++); a.stop(h); }
  for (let i = 0; i < 4; i++) {
    const h = a.start({ host: '127.0.0.1', port: 0, passphrase: '', token: '', maxConnections: 24, latencyMs: 20 }, () => events++);
    const py = spawn('python3', ['' + require('node:path').join(__dirname, 'callers.py') + '', String(a.port(h)), '3'], { stdio: 'ignore', env: { ...process.env, LD_PRELOAD: '' } });
    await new Promise((r) => setTimeout(r, 1500));
    a.stop(h);
    await new Promise((r) => py.on('exit', r));
  }
  await new Promise((r) => setTimeout(r, 500));
  console.log(`events ${events} fds before ${fd0} after ${fds()}`);
  global.gc?.();
})();
