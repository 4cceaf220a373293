// parseStreamId fuzz: random, mutated and binary stream ids (up to 1200 bytes, NULs, separators); an accepted
// id must carry a valid name and the configured token. Run under ASan via asan.sh.
const a = require(process.env.ADDON || require('node:path').join(__dirname, '../build/Release/srt_server.node'));
let seed = 12345; const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const alpha = ['a','Z','0','/',',',':','=','#','!','m','r','o','d','e','t','k','n','\0','ä','😀',' ','-','_','.','~','\n',',mode:',',token:','#!::','r=','m=','token=','publish','request'];
const seeds = ['cam1,mode:publish,token:T','#!::r=cam1,m=publish,token=T','#!:m=request,r=a/b,token=T','x,token:T,mode:request',',mode:,token:','#!:','#!::','#!::=,=,=',',,,,',',mode:publish'];
let n = 0, ok = 0;
const t0 = Date.now();
for (let i = 0; i < 300000; i++) {
  let s;
  const k = rnd(3);
  if (k === 0) { s = ''; const L = rnd(700); while (s.length < L) s += alpha[rnd(alpha.length)]; }
  else if (k === 1) { s = seeds[rnd(seeds.length)]; const m = rnd(8); for (let j=0;j<m;j++){ const pos=rnd(s.length+1); const op=rnd(3); if(op===0) s=s.slice(0,pos)+alpha[rnd(alpha.length)]+s.slice(pos); else if(op===1) s=s.slice(0,pos)+s.slice(pos+1); else s=s.slice(0,pos)+s.slice(pos).repeat(1+rnd(40)); } }
  else { const L = rnd(1200); s = String.fromCharCode(...Array.from({length: L}, () => rnd(256))); }
  const tok = rnd(4) === 0 ? '' : rnd(2) ? 'T' : 'x'.repeat(rnd(300));
  const r = a.parseStreamId(s, tok);
  n++; if (r.ok) ok++;
  if (r.ok && (r.name.length < 1 || r.name.length > 128 || !/^[A-Za-z0-9_.~\-\/]+$/.test(r.name))) throw new Error('bad accepted name ' + JSON.stringify(r));
  if (r.ok && tok && r.token !== tok) throw new Error('token mismatch accepted ' + JSON.stringify([s.slice(0,80), tok.slice(0,20), r]));
}
// exact boundaries
for (const L of [127,128,129,130,255,256,257,511,512,513,599,600,601,1000,5000]) {
  const r1 = a.parseStreamId('a'.repeat(L) + ',mode:publish', ''); 
  const r2 = a.parseStreamId('#!::r=' + 'a'.repeat(L) + ',m=publish,token=' + 't'.repeat(L), 't'.repeat(Math.min(L,256)));
  const r3 = a.parseStreamId('c,token:' + 't'.repeat(L), 't'.repeat(Math.min(L,256)));
  console.log(L, r1.ok, r2.ok, r2.code, r3.ok, r3.code);
}
console.log('fuzzed', n, 'accepted', ok, 'ms', Date.now() - t0);
