# Real libsrt callers (ctypes): publishers, players, malformed stream ids, passphrase mismatches, abrupt closes.
import ctypes, random, socket, struct, sys, threading, time
srt = ctypes.CDLL('libsrt-gnutls.so.1.5')
srt.srt_startup(); srt.srt_setloglevel(2)
port = int(sys.argv[1]); secs = float(sys.argv[2]); pw = sys.argv[3] if len(sys.argv) > 3 else ''
STREAMID, PASSPHRASE, CONNTIMEO, SNDSYN, RCVSYN = 46, 26, 36, 1, 2
addr = struct.pack('!HH4s8x', socket.AF_INET, port, socket.inet_aton('127.0.0.1'))
addr = struct.pack('H', socket.AF_INET) + addr[2:]
stats = {'ok': 0, 'fail': 0, 'sent': 0, 'recv': 0}
lock = threading.Lock()
def conn(sid, passphrase=b'', timeo=1500):
    s = srt.srt_create_socket()
    if sid is not None: srt.srt_setsockflag(s, STREAMID, sid, len(sid))
    if passphrase: srt.srt_setsockflag(s, PASSPHRASE, passphrase, len(passphrase))
    t = ctypes.c_int(timeo); srt.srt_setsockflag(s, CONNTIMEO, ctypes.byref(t), 4)
    r = srt.srt_connect(s, addr, len(addr))
    with lock: stats['ok' if r == 0 else 'fail'] += 1
    if r != 0:
        srt.srt_close(s); return None
    return s
def rnd_sid(rng):
    k = rng.randrange(6)
    if k == 0: return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 512)))
    if k == 1: return b'#!::r=' + b'x' * rng.randrange(100, 520) + b',m=publish'
    if k == 2: return b'a\0b,mode:publish'
    if k == 3: return rng.choice([b',mode:', b'#!:', b'#!::=,=', b',,,', b'x,mode:publish,mode:request,token:', b'#!::r=a,m=bogus', b'//,mode:publish'])
    if k == 4: return b'nothere%d,mode:request' % rng.randrange(9)
    return b'pub%d,mode:publish' % rng.randrange(4)  # duplicates of running publishers
end = time.time() + secs
def publisher(i):
    rng = random.Random(i); buf = ctypes.create_string_buffer(1316)
    while time.time() < end:
        s = conn(b'#!::r=pub%d,m=publish' % i, pw.encode())
        if s is None: time.sleep(0.05); continue
        stop = time.time() + rng.uniform(0.3, 2.0)
        while time.time() < min(stop, end):
            if srt.srt_sendmsg2(s, buf, 1316, None) > 0:
                with lock: stats['sent'] += 1
            time.sleep(0.002)
        srt.srt_close(s)  # abrupt: players of it go too
def player(i):
    rng = random.Random(100 + i); buf = ctypes.create_string_buffer(1500)
    to = ctypes.c_int(0)
    while time.time() < end:
        s = conn(b'pub%d,mode:request' % (i % 4), pw.encode())
        if s is None: time.sleep(0.05); continue
        n = rng.randrange(0, 300)
        for _ in range(n):
            r = srt.srt_recvmsg2(s, buf, 1500, None)  # blocking
            if r <= 0: break
            with lock: stats['recv'] += 1
        srt.srt_close(s)
def junk(i):
    rng = random.Random(200 + i)
    while time.time() < end:
        k = rng.randrange(3)
        if k == 0: s = conn(rnd_sid(rng), pw.encode())
        elif k == 1: s = conn(b'pub%d,mode:request' % rng.randrange(4), b'wrong-passphrase-%d' % i if pw else b'some-passphrase-x')
        else: s = conn(b'pub%d,mode:request' % rng.randrange(4), pw.encode())  # connect and close at once
        if s is not None: srt.srt_close(s)
threads = [threading.Thread(target=f, args=(i,)) for f, n in ((publisher, 4), (player, 8), (junk, 6)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print('callers', stats, flush=True)
srt.srt_cleanup()
