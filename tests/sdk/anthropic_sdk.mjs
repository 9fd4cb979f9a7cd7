// The official `@anthropic-ai/sdk` npm client (pinned in package.json) talking to a running
// tollgate, plus the `openai` client sent to an Anthropic model (tollgate translates).
// tests/integration/test_anthropic.py runs it against the tollgate and mock vendors it
// started, whose catalog has claude-x (an Anthropic provider) and gpt-x (an OpenAI one):
//
//   TG_BASE_URL=http://127.0.0.1:PORT TG_KEY=tg-... node tests/sdk/anthropic_sdk.mjs
//
// Prints "ok NAME" or "not ok NAME: detail" per check, then "N passed, M failed"; exits 1
// on any failure.  Needs `npm ci` in tests/sdk first (the Python test does it).
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const base = process.env.TG_BASE_URL;
const key = process.env.TG_KEY;
if (!base || !key) {
  console.log('not ok env: TG_BASE_URL and TG_KEY must be set');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const client = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 20000 });
const openai = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 20000 });
const msg = {
  model: 'claude-x',
  max_tokens: 64,
  system: 'be brief',
  messages: [{ role: 'user', content: 'hello there' }],
};
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    const detail = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
    console.log(`not ok ${name}: ${detail.replace(/\s+/g, ' ').slice(0, 500)}`);
  }
}
function need(cond, detail) {
  if (!cond) throw new Error(typeof detail === 'string' ? detail : JSON.stringify(detail));
}
const textOf = (m) => m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

// (1) Anthropic SDK -> Anthropic provider: JSON, stream helper, raw event stream
await check('anthropic messages.create', async () => {
  const { data, response } = await client.messages.create(msg).withResponse();
  need(data.type === 'message' && textOf(data).startsWith('w0'), data);
  need(data.usage.cache_read_input_tokens > 0 && data.usage.output_tokens > 0, data.usage);
  need(/^req_/.test(response.headers.get('x-tollgate-request-id') ?? ''), 'no request id');
});
await check('anthropic messages.stream finalMessage', async () => {
  const stream = client.messages.stream(msg);
  let deltas = 0;
  stream.on('text', () => deltas++);
  const m = await stream.finalMessage();
  need(textOf(m).startsWith('w0 w1') && deltas > 2, { text: textOf(m), deltas });
  need(m.stop_reason === 'end_turn' && m.usage.output_tokens > 1, m);
  need(m.usage.cache_read_input_tokens > 0, m.usage);
});
await check('anthropic create stream:true events', async () => {
  const s = await client.messages.create({ ...msg, stream: true });
  const types = [];
  for await (const ev of s) types.push(ev.type);
  need(types[0] === 'message_start' && types.at(-1) === 'message_stop' &&
       types.includes('content_block_delta') && types.includes('message_delta'), types);
});
await check('anthropic countTokens (local)', async () => {
  const c = await client.messages.countTokens({ model: 'claude-x', messages: msg.messages });
  need(Number.isInteger(c.input_tokens) && c.input_tokens > 0, c);
});

// (2) errors in Anthropic's shape, as the SDK's typed errors
await check('anthropic bad key -> AuthenticationError', async () => {
  const bad = new Anthropic({ baseURL: base, apiKey: 'tg-wrong', maxRetries: 0 });
  try {
    await bad.messages.create(msg);
  } catch (e) {
    need(e instanceof Anthropic.AuthenticationError && e.status === 401, String(e));
    return;
  }
  need(false, 'no error');
});
await check('anthropic unknown model -> NotFoundError', async () => {
  try {
    await client.messages.create({ ...msg, model: 'claude-nope' });
  } catch (e) {
    need(e instanceof Anthropic.NotFoundError && e.error?.error?.type === 'not_found_error',
         String(e));
    return;
  }
  need(false, 'no error');
});
await check('anthropic untranslatable -> BadRequestError', async () => {
  try {
    await client.messages.create({ ...msg, model: 'gpt-x', top_k: 3 });
  } catch (e) {
    need(e instanceof Anthropic.BadRequestError && /top_k/.test(e.message), String(e));
    return;
  }
  need(false, 'no error');
});

// (3) Anthropic SDK -> OpenAI model (translated), JSON and stream
await check('anthropic sdk to an OpenAI model', async () => {
  const m = await client.messages.create({ ...msg, model: 'gpt-x' });
  need(m.type === 'message' && textOf(m).startsWith('w0') && m.stop_reason === 'end_turn', m);
  need(m.usage.input_tokens + m.usage.cache_read_input_tokens > 0, m.usage);
});
await check('anthropic sdk stream to an OpenAI model', async () => {
  const m = await client.messages.stream({ ...msg, model: 'gpt-x' }).finalMessage();
  need(textOf(m).startsWith('w0 w1') && m.usage.output_tokens > 0, m);
});

// (4) openai SDK -> Anthropic model (translated), JSON and stream
await check('openai sdk to an Anthropic model', async () => {
  const c = await openai.chat.completions.create({
    model: 'claude-x', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
  need(c.object === 'chat.completion' && c.choices[0].message.content.startsWith('w0'), c);
  need(c.usage.prompt_tokens_details.cached_tokens > 0, c.usage);
});
await check('openai sdk stream to an Anthropic model', async () => {
  const s = await openai.chat.completions.create({
    model: 'claude-x', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const ch of s) {
    if (ch.choices[0]?.delta?.content) text += ch.choices[0].delta.content;
    if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
    if (ch.usage) usage = ch.usage;
  }
  need(text.startsWith('w0 w1') && finish === 'stop' && usage?.completion_tokens > 0,
       { text, finish, usage });
});
await check('openai sdk untranslatable -> BadRequestError', async () => {
  try {
    await openai.chat.completions.create({ model: 'claude-x', n: 2,
                                           messages: [{ role: 'user', content: 'hi' }] });
  } catch (e) {
    need(e instanceof OpenAI.BadRequestError && e.code === 'untranslatable_request', String(e));
    return;
  }
  need(false, 'no error');
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
