// Child of fuzzSrtpInChild: `node --import tsx test/fuzz/srtpChild.ts <seed> <runs>` prints one JSON line.
import { fuzzSrtpBackends } from './srtpFuzz.ts';

const [seed = '1', runs = '1000'] = process.argv.slice(2);
const result = await fuzzSrtpBackends(Number(seed), Number(runs));
process.stdout.write(`${JSON.stringify(result)}\n`);
