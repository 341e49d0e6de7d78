#!/usr/bin/env node
// Drives an L0L3 gateway with the official OpenAI Node SDK, the way an
// application would: `new OpenAI({ baseURL, apiKey })`.
//
//   node tests/sdk/openai-sdk.mjs BASE_URL [options]
//
//   BASE_URL                  the gateway's OpenAI base URL, e.g. http://127.0.0.1:8080/v1
//   --api-key KEY             sent as 'Authorization: Bearer KEY' (default: a placeholder;
//                             a gateway without --api-keys-file ignores it)
//   --rate-limited-url URL    a gateway whose upstream answers every request with 429 and
//                             Retry-After (l0l3-stub-llm --fail-rate 1 --fail-status 429
//                             --retry-after 1); without it the 429 check is skipped
//   --first-chunk-max-ms N    the first streamed chunk must arrive within N ms (default 700)
//   --last-chunk-min-ms N     the last streamed chunk must arrive after N ms (default 1000);
//                             both assume the stub runs with --ttft-ms 50 --latency-ms 1500
//   --timeout-ms N            per request (default 20000)
//   --prompt-tag TEXT         put into every prompt, so no earlier run's entry answers them
//
// Prints one line per check, "ok <name>: ..." or "FAIL <name>: ...", then a summary line.
// Exit status: 0 when every check passed, 1 when one failed, 2 on bad usage or a missing SDK.

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

function usage(message) {
  console.error(`openai-sdk: ${message}`);
  console.error('usage: node tests/sdk/openai-sdk.mjs BASE_URL [--api-key KEY] [--rate-limited-url URL]');
  console.error('       [--first-chunk-max-ms N] [--last-chunk-min-ms N] [--timeout-ms N] [--prompt-tag TEXT]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    baseURL: null,
    apiKey: 'sk-l0l3-sdk-test',
    rateLimitedURL: null,
    firstChunkMaxMs: 700,
    lastChunkMinMs: 1000,
    timeoutMs: 20000,
    promptTag: randomUUID().slice(0, 8),
  };
  const numbers = {
    '--first-chunk-max-ms': 'firstChunkMaxMs',
    '--last-chunk-min-ms': 'lastChunkMinMs',
    '--timeout-ms': 'timeoutMs',
  };
  const strings = { '--api-key': 'apiKey', '--rate-limited-url': 'rateLimitedURL', '--prompt-tag': 'promptTag' };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h')
      usage('help');
    if (arg in numbers || arg in strings) {
      if (i + 1 >= argv.length)
        usage(`${arg} needs a value`);
      const value = argv[++i];
      if (arg in numbers) {
        const n = Number(value);
        if (!Number.isFinite(n) || n <= 0)
          usage(`${arg}: not a positive number: ${value}`);
        opts[numbers[arg]] = n;
      } else {
        opts[strings[arg]] = value;
      }
    } else if (arg.startsWith('-')) {
      usage(`unknown option ${arg}`);
    } else if (opts.baseURL === null) {
      opts.baseURL = arg;
    } else {
      usage(`unexpected argument ${arg}`);
    }
  }
  if (opts.baseURL === null)
    usage('the gateway base URL is missing');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

let OpenAI;
try {
  ({ default: OpenAI } = await import('openai'));
} catch (e) {
  console.error(`openai-sdk: cannot load the 'openai' package (${e.message}); run scripts/install-deps.sh`);
  process.exit(2);
}

const MODEL = 'gpt-4o-mini';
const results = [];

function record(name, ok, detail) {
  results.push({ name, ok });
  console.log(`${ok ? 'ok' : 'FAIL'} ${name}: ${detail}`);
}

// Runs one check; a thrown error is that check's failure, the others still run.
async function check(name, body) {
  try {
    const detail = await body();
    record(name, true, detail);
  } catch (e) {
    const status = e && typeof e.status === 'number' ? ` (HTTP ${e.status})` : '';
    record(name, false, `${e && e.constructor ? e.constructor.name : 'error'}${status}: ${e && e.message}`);
  }
}

function expect(condition, message) {
  if (!condition)
    throw new Error(message);
}

function client(baseURL) {
  // maxRetries 0: a 429 must reach the caller as it came, not be retried away.
  return new OpenAI({ baseURL, apiKey: opts.apiKey, maxRetries: 0, timeout: opts.timeoutMs });
}

function prompt(what) {
  return `SDK check ${what} of run ${opts.promptTag}`;
}

const gateway = client(opts.baseURL);
const question = { model: MODEL, messages: [{ role: 'user', content: prompt('question') }] };

// (1) A miss, answered by the upstream through the gateway.
let firstAnswer = null;
await check('non-streaming-miss', async () => {
  const { data, response } = await gateway.chat.completions.create(question).withResponse();
  const cache = response.headers.get('x-l0l3-cache');
  expect(cache === 'miss', `x-l0l3-cache is '${cache}', expected 'miss'`);
  const content = data.choices?.[0]?.message?.content;
  expect(typeof content === 'string' && content.length > 0, `no content in ${JSON.stringify(data).slice(0, 300)}`);
  firstAnswer = content;
  return `${content.length} characters, x-l0l3-cache ${cache}, finish_reason ${data.choices[0].finish_reason}`;
});

// (2) The same question again: not approved, so still a miss, with the same
// (deterministic) answer and the cache header visible through withResponse().
await check('repeat-unapproved-is-miss', async () => {
  const { data, response } = await gateway.chat.completions.create(question).withResponse();
  const cache = response.headers.get('x-l0l3-cache');
  expect(cache === 'miss', `x-l0l3-cache is '${cache}', expected 'miss' (nothing was approved)`);
  const content = data.choices?.[0]?.message?.content;
  expect(typeof content === 'string' && content.length > 0, 'no content');
  expect(firstAnswer === null || content === firstAnswer, 'the answer differs from the first one');
  return `x-l0l3-cache ${cache}, tier ${response.headers.get('x-l0l3-tier')}`;
});

// (3) A streamed miss: the SDK's async iterator yields chunks as they arrive.
await check('streaming-chunks-as-they-come', async () => {
  const started = performance.now();
  const { data: stream, response } = await gateway.chat.completions
    .create({ model: MODEL, messages: [{ role: 'user', content: prompt('stream') }], stream: true })
    .withResponse();
  const cache = response.headers.get('x-l0l3-cache');
  expect(cache === 'miss', `x-l0l3-cache is '${cache}', expected 'miss'`);
  const arrivals = [];
  let text = '';
  let finishReason = null;
  for await (const chunk of stream) {
    arrivals.push(performance.now() - started);
    for (const choice of chunk.choices ?? []) {
      if (typeof choice.delta?.content === 'string')
        text += choice.delta.content;
      if (choice.finish_reason)
        finishReason = choice.finish_reason;
    }
  }
  expect(arrivals.length >= 2, `${arrivals.length} chunk(s); a stream of several was expected`);
  const first = arrivals[0];
  const last = arrivals[arrivals.length - 1];
  const timing = `${arrivals.length} chunks, first after ${first.toFixed(0)} ms, last after ${last.toFixed(0)} ms`;
  expect(first < opts.firstChunkMaxMs, `${timing}: the first chunk came later than ${opts.firstChunkMaxMs} ms`);
  expect(last > opts.lastChunkMinMs, `${timing}: the last chunk came before ${opts.lastChunkMinMs} ms`);
  expect(text.length > 0, `${timing}: the deltas' content is empty`);
  expect(finishReason !== null, `${timing}: no chunk carried a finish_reason`);
  return `${timing}, ${text.length} characters, finish_reason ${finishReason}`;
});

// (4) The upstream's 429 reaches the application as the SDK's RateLimitError.
if (opts.rateLimitedURL) {
  await check('upstream-429-is-RateLimitError', async () => {
    let error = null;
    try {
      await client(opts.rateLimitedURL).chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: prompt('rate limited') }],
      });
    } catch (e) {
      error = e;
    }
    expect(error !== null, 'the request succeeded; a 429 was expected');
    expect(
      error instanceof OpenAI.RateLimitError,
      `got ${error.constructor.name} (status ${error.status}): ${error.message}; expected RateLimitError`,
    );
    expect(error.status === 429, `status ${error.status}, expected 429`);
    const retryAfter = error.headers?.['retry-after'];
    expect(retryAfter !== undefined, 'no Retry-After header on the 429');
    return `RateLimitError, status ${error.status}, Retry-After ${retryAfter}, message '${error.message}'`;
  });
} else {
  console.log('skip upstream-429-is-RateLimitError: no --rate-limited-url');
}

const failed = results.filter((r) => !r.ok).map((r) => r.name);
if (failed.length > 0) {
  console.log(`openai-sdk: ${failed.length} of ${results.length} checks FAILED: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`openai-sdk: all ${results.length} checks passed`);
