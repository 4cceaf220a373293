// Handles dropped without stop (the GC finalizer stops them) and process.exit with a live server and callers.
const a = require(process.env.ADDON || require('node:path').join(__dirname, '../build/Release/srt_server.node'));
const { spawn } = require('node:child_process');
let ev = 0;
// handles dropped without stop: the GC finalizer stops them
for (let i = 0; i < 20; i++) a.start({ host: '127.0.0.1', port: 0, passphrase: '', token: '', maxConnections: 4, latencyMs: 20 }, () => ev++);
global.gc(); 
const h = a.start({ host: '127.0.0.1', port: 0, passphrase: '', token: '', maxConnections: 24, latencyMs: 20 }, () => ev++);
const py = spawn('python3', ['' + require('node:path').join(__dirname, 'callers.py') + '', String(a.port(h)), '4'], { stdio: 'ignore', env: { ...process.env, LD_PRELOAD: '' } });
setTimeout(() => { global.gc(); console.log('exiting with live server, events', ev, 'conns', a.connections(h).length); py.kill('SIGKILL'); process.exit(0); }, 2500);
