import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  resolvePlaceholders,
  type PlaceholderSection,
  type PlaceholderValues,
} from '../../src/actors/stream/placeholders.ts';

const values: PlaceholderValues = {
  processid: 'p1',
  reference: 'ref',
  diskfs: '/data',
  memfs: 'http://127.0.0.1:8080/memfs',
  inputid: 'in0',
  outputid: 'out0',
};

const SECTIONS: PlaceholderSection[] = ['global', 'io-id', 'address', 'io-options', 'cleanup'];

/** placeholder -> what it gives, and the sections where it is resolved. */
const ALLOWED: Array<[string, string, PlaceholderSection[]]> = [
  ['{processid}', 'p1', ['io-id', 'address', 'io-options', 'cleanup']],
  ['{reference}', 'ref', ['io-id', 'address', 'io-options', 'cleanup']],
  ['{inputid}', 'in0', ['address', 'io-options']],
  ['{outputid}', 'out0', ['address', 'io-options', 'cleanup']],
  ['{diskfs}', '/data', ['global', 'address', 'io-options']],
  ['{fs:disk}', '/data', ['global', 'address', 'io-options']],
  ['{memfs}', 'http://127.0.0.1:8080/memfs', ['address', 'io-options']],
  ['{fs:mem}', 'http://127.0.0.1:8080/memfs', ['address', 'io-options']],
];

for (const [placeholder, expected, sections] of ALLOWED) {
  test(`resolvePlaceholders() resolves ${placeholder} only where Core allows it`, () => {
    for (const section of SECTIONS) {
      const want = sections.includes(section) ? `x/${expected}/y` : `x/${placeholder}/y`;
      assert.equal(resolvePlaceholders(`x/${placeholder}/y`, section, values), want, section);
    }
  });
}

test('resolvePlaceholders() leaves unknown and malformed placeholders untouched', () => {
  const cases = [
    '{foo}',
    '{fs:s3}',
    '{processid:x}',
    '{PROCESSID}',
    '{processid',
    'processid}',
    '{processid^}',
    '{processid^:.}',
    '{ processid}',
    '{constructor}',
    '{}',
    'no placeholders at all',
  ];
  for (const text of cases) assert.equal(resolvePlaceholders(text, 'address', values), text, text);
});

test('resolvePlaceholders() replaces every occurrence and keeps the surrounding text', () => {
  assert.equal(
    resolvePlaceholders('{memfs}/{processid}_{outputid}.m3u8?ref={reference}&again={processid}', 'address', values),
    'http://127.0.0.1:8080/memfs/p1_out0.m3u8?ref=ref&again=p1',
  );
});

test('resolvePlaceholders() leaves {inputid}/{outputid} untouched when the value is not given', () => {
  const { inputid: _i, outputid: _o, ...rest } = values;
  assert.equal(resolvePlaceholders('{inputid}-{outputid}', 'address', rest), '{inputid}-{outputid}');
  assert.equal(resolvePlaceholders('{inputid}', 'cleanup', values), '{inputid}');
});

test('resolvePlaceholders() resolves an empty value to the empty string', () => {
  assert.equal(resolvePlaceholders('a{reference}b', 'address', { ...values, reference: '' }), 'ab');
});

test('resolvePlaceholders() escapes with ^c', () => {
  // Core (restream/replace): every c becomes `\\c`; every backslash becomes three backslashes.
  const v = { ...values, reference: ';:.,-_$\\£!^' };
  const cases: Array<[string, string]> = [
    ['{reference}', ';:.,-_$\\£!^'],
    ['{reference^:}', ';\\\\:.,-_$\\\\\\£!^'],
    ['{reference^:}barfoo{reference^:}', ';\\\\:.,-_$\\\\\\£!^barfoo;\\\\:.,-_$\\\\\\£!^'],
    ['{reference^^}', ';:.,-_$\\\\\\£!\\\\^'],
    ['{reference^\\}', ';:.,-_$\\\\\\£!^'],
    ['{reference^x}', ';:.,-_$\\\\\\£!^'],
  ];
  for (const [text, want] of cases) assert.equal(resolvePlaceholders(text, 'address', v), want, text);
  assert.equal(resolvePlaceholders('{memfs^:}', 'address', values), 'http\\\\://127.0.0.1\\\\:8080/memfs');
  assert.equal(resolvePlaceholders('{diskfs^/}', 'global', values), '\\\\/data');
});

test('resolvePlaceholders() URL-unescapes parameter values and substitutes them into the value', () => {
  const v = { ...values, reference: 'Hello {who}! {what}?' };
  const cases: Array<[string, string]> = [
    ['{reference,who=World}', 'Hello World! {what}?'],
    ['{reference,who=World,what=Yeah}', 'Hello World! Yeah?'],
    ['{reference,who=World,what=}', 'Hello World! ?'],
    ['{reference,who=E%3dmc^2}', 'Hello E=mc^2! {what}?'],
    ['{reference,who=a+b%2Cc}', 'Hello a b,c! {what}?'],
    ['{reference,who=%zz}', 'Hello {who}! {what}?'],
    ['{reference,,who=x,}', 'Hello x! {what}?'],
    ['{reference^:,who=World,what=E%3dmc:2}', 'Hello World! E=mc\\\\:2?'],
  ];
  for (const [text, want] of cases) assert.equal(resolvePlaceholders(text, 'address', v), want, text);
});

test('resolvePlaceholders() expands $processid, $reference, $inputid, $outputid in parameter values', () => {
  const v = { ...values, memfs: 'mem[{a}|{b}|{c}|{d}|{e}]' };
  assert.equal(
    resolvePlaceholders('{memfs,a=$processid,b=$reference,c=$inputid,d=$outputidxxx,e=%24processid}', 'address', v),
    'mem[p1|ref|in0|out0xxx|p1]',
  );
  const { inputid: _i, ...noInput } = v;
  assert.equal(resolvePlaceholders('{memfs,a=$inputid,b=$unknown}', 'address', noInput), 'mem[$inputid|$unknown|{c}|{d}|{e}]');
});

test('resolvePlaceholders() does not rescan substituted values', () => {
  const v = { ...values, reference: '{processid}' };
  assert.equal(resolvePlaceholders('{reference}/{processid}', 'address', v), '{processid}/p1');
});

test('resolvePlaceholders() resolves {whip,name=…} in addresses only, and leaves it when WHIP ingest is off', () => {
  const v = { ...values, whip: 'http://127.0.0.1:8080/whip/{name}/sdp?token=k' };
  assert.equal(resolvePlaceholders('{whip,name=cam1}', 'address', v), 'http://127.0.0.1:8080/whip/cam1/sdp?token=k');
  assert.equal(resolvePlaceholders('{whip,name=$processid}', 'address', v), 'http://127.0.0.1:8080/whip/p1/sdp?token=k');
  for (const section of SECTIONS.filter((s) => s !== 'address')) assert.equal(resolvePlaceholders('{whip,name=cam1}', section, v), '{whip,name=cam1}', section);
  assert.equal(resolvePlaceholders('{whip,name=cam1}', 'address', values), '{whip,name=cam1}');
});
