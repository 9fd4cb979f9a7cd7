// The official `openai` npm SDK (pinned in package.json) talking to a running tollgate.
// tests/integration/test_proxy.py runs it against the tollgate and mock vendor it started:
//
//   TG_BASE_URL=http://127.0.0.1:PORT TG_KEY=tg-... node tests/sdk/openai_sdk.mjs
//
// Prints "ok NAME" or "not ok NAME: detail" per check, then "N passed, M failed"; exits 1
// on any failure.  Needs `npm ci` in tests/sdk first (the Python test does it).
import OpenAI from 'openai';

const base = process.env.TG_BASE_URL;
const key = process.env.TG_KEY;
if (!base || !key) {
  console.log('not ok env: TG_BASE_URL and TG_KEY must be set');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const opts = { baseURL: base + '/v1', maxRetries: 0, timeout: 20000 };
const client = new OpenAI({ ...opts, apiKey: key });
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] };
let passed = 0;
let failed = 0;

// Runs fn; it passes when it returns without throwing.  `need` throws with a detail.
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

// (1) JSON chat completion, and the raw response behind it
let jsonText = null;
await check('chat json', async () => {
  const c = await client.chat.completions.create(chat);
  const content = c.choices?.[0]?.message?.content;
  need(typeof content === 'string' && content.length > 0, { choices: c.choices });
  need(c.usage?.prompt_tokens > 0 && c.usage?.completion_tokens > 0, { usage: c.usage });
  jsonText = content;
});
await check('chat withResponse request id', async () => {
  const { data, response } = await client.chat.completions.create(chat).withResponse();
  const id = response.headers.get('x-tollgate-request-id');
  need(response.status === 200 && /^req_/.test(id ?? ''), { status: response.status, id });
  need(typeof data.choices[0].message.content === 'string', 'no content in data');
});
await check('chat asResponse', async () => {
  const r = await client.chat.completions.create(chat).asResponse();
  need(/^req_/.test(r.headers.get('x-tollgate-request-id') ?? ''), 'no x-tollgate-request-id');
  const body = await r.json();
  need(body.object === 'chat.completion', body);
});

// (2) streaming: the same text as the JSON reply, and none of the usage tollgate asked for
await check('chat stream', async () => {
  const stream = await client.chat.completions.create({ ...chat, stream: true });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    need(chunk.usage === undefined || chunk.usage === null,
      `chunk ${chunks} carries usage ${JSON.stringify(chunk.usage)}`);
    text += chunk.choices?.[0]?.delta?.content ?? '';
  }
  need(chunks > 1, `only ${chunks} chunk(s)`);
  need(jsonText !== null && text === jsonText,
    `streamed ${JSON.stringify(text)} vs json ${JSON.stringify(jsonText)}`);
  need(/^w0( w\d+)+/.test(text), `unexpected mock reply ${JSON.stringify(text)}`);
});

// (3) streaming with include_usage: the client asked, so the usage chunk comes last
await check('chat stream include_usage', async () => {
  const stream = await client.chat.completions.create({
    ...chat, stream: true, stream_options: { include_usage: true },
  });
  let last = null;
  for await (const chunk of stream) last = chunk;
  need(last && last.usage?.prompt_tokens > 0 && last.usage?.completion_tokens > 0 &&
    Array.isArray(last.choices) && last.choices.length === 0, { last });
});

// (4) a wrong key: tollgate's 401 surfaces as the SDK's AuthenticationError
await check('bad key AuthenticationError', async () => {
  const bad = new OpenAI({ ...opts, apiKey: 'tg-not-a-real-key' });
  let err = null;
  try {
    await bad.chat.completions.create(chat);
  } catch (e) {
    err = e;
  }
  need(err instanceof OpenAI.AuthenticationError,
    `got ${err ? err.constructor.name + ': ' + err.message : 'no error'}`);
  need(err.status === 401 && typeof err.error?.message === 'string',
    { status: err.status, error: err.error });
});

// (5) embeddings (the SDK asks for base64 and decodes it to floats)
await check('embeddings', async () => {
  const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
  const v = e.data?.[0]?.embedding;
  need(Array.isArray(v) && v.length > 0 && v.every((x) => Number.isFinite(x)),
    `embedding ${JSON.stringify(v)?.slice(0, 100)}`);
  need(e.usage?.prompt_tokens > 0, { usage: e.usage });
});

// (6) the Responses API, JSON
await check('responses', async () => {
  const r = await client.responses.create({ model: 'gpt-4.1', input: 'hi' });
  need(r.object === 'response' && typeof r.output_text === 'string' &&
    r.output_text.length > 0, { object: r.object, output_text: r.output_text });
  need(r.usage?.input_tokens > 0 && r.usage?.output_tokens > 0, { usage: r.usage });
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
