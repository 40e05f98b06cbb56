// Test harness for the web UI's browser tests: starts REAL processes (codexpc with a scripted
// model, `orbitdock serve` with the pinned Codex CLI) on loopback ports in temp dirs, and Debian's
// Chromium through playwright-core. Every wait is bounded; every process is killed (by process
// group) when the test ends, whatever happened.

import { spawn, execFileSync } from 'node:child_process';
import {
  mkdtempSync, writeFileSync, mkdirSync, existsSync, rmSync, readdirSync, readFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SCREENSHOTS = path.join(ROOT, 'artifacts', 'screenshots');

const TARGET = process.env.CARGO_TARGET_DIR
  ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');

export const BIN = {
  orbitdock: process.env.ORBITDOCK_BIN || path.join(TARGET, 'debug', 'orbitdock'),
  codexpc: process.env.CODEXPC_BIN || path.join(TARGET, 'debug', 'codexpc'),
  codex: process.env.CODEX_BIN || codexBin(),
  chromium: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  claude: process.env.CLAUDE_BIN
    || path.join(ROOT, 'tools', 'claude', 'node_modules', '@anthropic-ai', 'claude-code', 'bin', 'claude.exe'),
  fakeAnthropic: process.env.FAKE_ANTHROPIC_BIN || path.join(TARGET, 'debug', 'examples', 'fake_anthropic_server'),
  fakeResponses: process.env.FAKE_RESPONSES_BIN || path.join(TARGET, 'debug', 'examples', 'fake_responses_server'),
  mcpTestServer: process.env.MCP_TEST_SERVER_BIN || path.join(TARGET, 'debug', 'examples', 'mcp_test_server'),
  elicitMcpServer: process.env.ELICIT_MCP_SERVER_BIN || path.join(TARGET, 'debug', 'examples', 'elicit_mcp_server'),
};

function codexBin() {
  const triples = {
    'linux-x64': ['codex-linux-x64', 'x86_64-unknown-linux-musl'],
    'linux-arm64': ['codex-linux-arm64', 'aarch64-unknown-linux-musl'],
    'darwin-arm64': ['codex-darwin-arm64', 'aarch64-apple-darwin'],
    'darwin-x64': ['codex-darwin-x64', 'x86_64-apple-darwin'],
  };
  const [pkg, triple] = triples[`${process.platform}-${process.arch}`] || triples['linux-x64'];
  return path.join(ROOT, 'tools', 'codex', 'node_modules', '@openai', pkg, 'vendor', triple, 'bin', 'codex');
}

export function tempDir(prefix) {
  return mkdtempSync(path.join(tmpdir(), `orbitdock-ui-${prefix}-`));
}

/**
 * A temp dir outside the system temp dir (under the target dir, kept short), for a CODEX_HOME in
 * which Codex must run sandboxed commands: Codex 0.169 installs its `codex-linux-sandbox` PATH
 * helper under `$CODEX_HOME/tmp/` only when that home is not under the system temp dir, and
 * without it every sandboxed command fails ("bwrap: execvp codex-linux-sandbox").
 */
export function sandboxableDir(prefix) {
  const parent = path.join(TARGET, 'tmp', 'ui');
  if (parent.startsWith(`${tmpdir()}${path.sep}`)) return tempDir(prefix);
  mkdirSync(parent, { recursive: true });
  return mkdtempSync(path.join(parent, `${prefix}-`));
}

/** Resolves `promise`, or rejects after `ms` with `what` in the message. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A child process in its own process group, with its output kept (last 64 KiB) for failure
 * messages, and a helper to wait for a line matching a pattern.
 */
export class Child {
  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.log = '';
    this.exited = false;
    this.exitCode = null;
    this.waiters = [];
    this.proc = spawn(cmd, args, {
      cwd: opts.cwd || ROOT,
      env: { ...process.env, ...(opts.env || {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const onData = (chunk) => {
      this.log = (this.log + chunk.toString('utf8')).slice(-65536);
      if (process.env.UI_TESTS_VERBOSE) process.stderr.write(`[${name}] ${chunk}`);
      for (const w of [...this.waiters]) w();
    };
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code ?? signal;
        for (const w of [...this.waiters]) w();
        resolve(this.exitCode);
      });
      this.proc.on('error', (err) => {
        this.log += `\nspawn error: ${err.message}`;
        this.exited = true;
        for (const w of [...this.waiters]) w();
        resolve(-1);
      });
    });
    Child.all.add(this);
  }

  /** Waits until the output matches `re`; returns the match. */
  waitFor(re, ms, what) {
    return withTimeout(new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.log);
        if (m) {
          this.waiters = this.waiters.filter((w) => w !== check);
          resolve(m);
        } else if (this.exited) {
          this.waiters = this.waiters.filter((w) => w !== check);
          reject(new Error(`${this.name} exited (${this.exitCode}) before ${what}; output:\n${this.log.slice(-4000)}`));
        }
      };
      this.waiters.push(check);
      check();
    }), ms, `${this.name}: ${what}; output so far:\n${this.log.slice(-4000)}`);
  }

  /** SIGKILL (or `signal`) to the whole process group; resolves when the process has exited. */
  async kill(signal = 'SIGKILL') {
    if (!this.exited) {
      try {
        process.kill(-this.proc.pid, signal);
      } catch {
        // already gone
      }
      await withTimeout(this.exitPromise, 10000, `${this.name} to exit after ${signal}`);
    }
    Child.all.delete(this);
  }
}
Child.all = new Set();

// Last resort: never leave a daemon behind when the test process itself dies.
process.on('exit', () => {
  for (const c of Child.all) {
    try {
      process.kill(-c.proc.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/**
 * Starts `codexpc serve --script FILE --http 127.0.0.1:0` with the given script lines
 * (objects: {completion, match?, token_delay_ms?}); returns {child, baseUrl}.
 */
export async function startScriptedModel(lines, dir) {
  const script = path.join(dir, 'model-script.jsonl');
  writeFileSync(script, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const child = new Child('codexpc', BIN.codexpc, ['serve', '--script', script, '--http', '127.0.0.1:0', '--no-socket']);
  const m = await child.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/v1)/, 30000, 'codexpc to print its base URL');
  return { child, baseUrl: m[1] };
}

/**
 * Starts test-support's loopback fake of the Anthropic Messages API (`fake_anthropic_server`)
 * answering model requests with `lines` in order ({text}, {deltas}, {bash: {id, command}},
 * {tool_use: {id, name, input}}); returns {child, baseUrl}.
 */
export async function startFakeAnthropic(lines, dir) {
  const script = path.join(dir, 'anthropic-script.jsonl');
  writeFileSync(script, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const child = new Child('fake-anthropic', BIN.fakeAnthropic, [script]);
  const m = await child.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 30000, 'the fake Anthropic API to start');
  return { child, baseUrl: m[1] };
}

/**
 * Starts test-support's loopback fake of the Responses API (`fake_responses_server`), answering
 * model requests with `lines` in order ({text, delay_ms?}; {mcp_tool_call: {server, tool,
 * arguments, call_id}} for a call of an MCP server's tool) and reporting each request it gets;
 * returns {child, baseUrl, requests()} where `requests()` parses the summaries printed so far
 * ({n, model, effort, last_user_text}).
 */
export async function startFakeResponses(lines, dir) {
  const script = path.join(dir, 'responses-script.jsonl');
  writeFileSync(script, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const child = new Child('fake-responses', BIN.fakeResponses, [script]);
  const m = await child.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/, 30000, 'the fake Responses API to start');
  const requests = () => [...child.log.matchAll(/^request (\{.*\})$/gm)].map((r) => JSON.parse(r[1]));
  return { child, baseUrl: m[1], requests };
}

/**
 * The environment `orbitdock serve` needs to run the pinned Claude Code offline against the fake
 * API, in an isolated config dir under `dir`.
 */
export function claudeEnv(dir, baseUrl) {
  const config = path.join(dir, 'claude-config');
  const home = path.join(dir, 'home');
  mkdirSync(config, { recursive: true });
  mkdirSync(home, { recursive: true });
  return {
    CLAUDE_BIN: BIN.claude,
    CLAUDE_CONFIG_DIR: config,
    HOME: home,
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: 'sk-ant-test-fake',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_MAX_RETRIES: '0',
  };
}

/** A CODEX_HOME whose config points Codex at the scripted model (see shared notes). */
export function makeCodexHome(dir, baseUrl, extraConfig = '') {
  const home = path.join(dir, 'codex-home');
  mkdirSync(home, { recursive: true });
  writeFileSync(path.join(home, 'config.toml'), [
    'model = "gpt-oss-20b"',
    'model_provider = "codexpc"',
    '',
    '[model_providers.codexpc]',
    'name = "codexpc scripted model"',
    `base_url = "${baseUrl}"`,
    'wire_api = "responses"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    '',
    extraConfig,
  ].join('\n'));
  return home;
}

/**
 * Starts `orbitdock serve` on `port` (0 = any free port) and waits for the one-time sign-in link
 * it prints. Returns {child, origin, port, signInLink, token}: the link works once (it signs a
 * browser in as the device "Browser on this machine"); the API token, which the server never
 * prints, is read from the data dir like `orbitdock token` does. Pages sign in with `signIn`.
 */
export async function startOrbitdock({ dataDir, codexHome, port = 0, extraArgs = [], env = {} }) {
  const args = ['serve', '--port', String(port), '--data-dir', dataDir, '--codex-home', codexHome,
    '--codex-bin', BIN.codex, ...extraArgs];
  const child = new Child('orbitdock', BIN.orbitdock, args, { env: { RUST_LOG: process.env.RUST_LOG || 'info', ...env } });
  const m = await child.waitFor(/Open the UI: ((http:\/\/127\.0\.0\.1:(\d+))\/pair#[A-Za-z0-9_-]+)/, 60000,
    'orbitdock serve to print its sign-in link');
  const token = readFileSync(path.join(dataDir, 'token'), 'utf8').trim();
  return { child, origin: m[2], port: Number(m[3]), signInLink: m[1], token };
}

/**
 * Signs `page` in to `server` the way a person with the API token does: the sign-in form at
 * /login, the token pasted and posted (never in a URL). Waits for the app's URL.
 */
export async function signIn(page, server) {
  await page.goto(`${server.origin}/login`);
  await page.getByLabel('API token').fill(server.token);
  await Promise.all([
    page.waitForURL(`${server.origin}/`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

/** Launches Debian's Chromium headless with a fresh profile. */
export async function launchBrowser({ viewport = { width: 1280, height: 820 } } = {}) {
  const profile = tempDir('chromium');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: BIN.chromium,
    headless: true,
    viewport,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
  context.setDefaultTimeout(15000);
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A browser logged in to `server`: {browser, page} (page errors are printed). */
export async function openLoggedIn(server) {
  const browser = await launchBrowser();
  const page = await browser.context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await signIn(page, server);
  return { browser, page };
}

/** Closes whatever of the browser and the processes was started (in that order). */
export async function stopAll(browser, ...children) {
  if (browser) await browser.close();
  for (const c of children) if (c) await c.child.kill();
}

export function screenshotPath(name) {
  if (!existsSync(SCREENSHOTS)) mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, `${name}.png`);
}

/** Screenshots of `page` as it is at desktop width and at 390 px (`NAME-desktop`, `NAME-390`). */
export async function screenshotBoth(page, name) {
  const desktop = page.viewportSize();
  await page.screenshot({ path: screenshotPath(`${name}-desktop`) });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath(`${name}-390`) });
  await page.setViewportSize(desktop);
}

/** Polls `fn` until it returns a truthy value (bounded); for conditions with no event to await. */
export async function eventually(fn, ms, what, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Authenticated JSON request to the server (scripts and assertions, not the UI under test). */
export async function apiCall(server, method, pathname, body) {
  const res = await fetch(`${server.origin}${pathname}`, {
    method,
    headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * A CODEX_HOME whose default provider is the OpenAI account, with nobody logged in (a
 * newcomer's), its requests sent to `baseUrl` (`openai_base_url`) so a login can be followed by
 * a real turn against a loopback model.
 */
export function makeAccountCodexHome(dir, baseUrl) {
  const home = path.join(dir, 'codex-home');
  mkdirSync(home, { recursive: true });
  writeFileSync(path.join(home, 'config.toml'), [
    'model = "gpt-oss-20b"',
    `openai_base_url = "${baseUrl}"`,
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
  ].join('\n'));
  return home;
}

/** The cached tiny gpt-oss GGUF (32k context), generated by test-support's `tiny_gguf` example. */
export function tinyGguf() {
  const bin = process.env.TINY_GGUF_BIN || path.join(TARGET, 'debug', 'examples', 'tiny_gguf');
  const out = execFileSync(bin, ['final-channel-loop-32k'], {
    env: { ...process.env, CARGO_TARGET_DIR: TARGET },
    encoding: 'utf8',
  });
  return out.trim();
}

/** Pid of the child of `parentPid` whose command name is `name` (Linux /proc), or null. */
export function childPid(parentPid, name) {
  let tasks = [];
  try {
    tasks = readdirSync(`/proc/${parentPid}/task`);
  } catch {
    return null;
  }
  for (const t of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${parentPid}/task/${t}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of children.split(/\s+/).filter(Boolean)) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name) return Number(pid);
      } catch {
        // exited meanwhile
      }
    }
  }
  return null;
}

/** A page of `browser` logged in to `server` (the sign-in form sets the cookie), live. */
export async function openLoggedInPage(browser, server) {
  const page = await browser.context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await signIn(page, server);
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
  return page;
}

/**
 * The usual stack of a browser test: codexpc playing `script` (or, with `recordRequests`, the
 * recording fake Responses API), a CODEX_HOME pointing at it
 * (its config.toml ending with `extraConfig`, e.g. feature flags),
 * `orbitdock serve`, and a logged-in page showing the live UI. `dir` (a fresh temp dir) holds a
 * `project/` directory for sessions. `stop()` tears everything down; `failureContext()` is the
 * tail of the server's and the model's output, for assertion messages.
 */
export async function startStack(prefix, script, { extraConfig = '', recordRequests = false, sandboxed = false, serveArgs = [] } = {}) {
  // `sandboxed`: Codex can run sandboxed commands in this stack (see `sandboxableDir`).
  const dir = sandboxed ? sandboxableDir(prefix) : tempDir(prefix);
  mkdirSync(path.join(dir, 'project'), { recursive: true });
  // `recordRequests`: the recording fake Responses API (script lines {text}) instead of codexpc,
  // for tests that check what reached the model.
  const model = recordRequests ? await startFakeResponses(script, dir) : await startScriptedModel(script, dir);
  const codexHome = makeCodexHome(dir, model.baseUrl, extraConfig);
  // `serveArgs`: extra `orbitdock serve` flags (e.g. smaller retention limits).
  const server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome, extraArgs: serveArgs });
  const browser = await launchBrowser();
  const page = await openLoggedInPage(browser, server);
  return {
    dir, project: path.join(dir, 'project'), codexHome, model, server, browser, page,
    failureContext: () => `\n--- orbitdock output ---\n${server.child.log.slice(-3000)}`
      + `\n--- model output ---\n${model.child.log.slice(-2000)}`,
    async stop() {
      await browser.close();
      await server.child.kill();
      await model.child.kill();
      // A sandboxable dir lives in the target dir, not the temp dir: do not leave it behind.
      if (sandboxed) rmSync(dir, { recursive: true, force: true });
    },
  };
}
