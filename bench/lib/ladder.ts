import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ladderChart } from './chart.js';
import { machineBusySeconds, mainThreadCpuSeconds, processCpuSeconds, readTreeCpu } from './cpu.js';
import { LOGS, PROFILES, RESULTS, ROOT, log } from './harness.js';
import { runLoad, sleep, type LoadShape } from './load.js';
import { fmtMib, machineMeta } from './meta.js';
import type { Options } from './options.js';
import { MemorySampler, stopAll, type ManagedChild } from './processes.js';
import { renderProfile, summarizeProfile } from './profile.js';
import { countPromptTokens, sizePrompt, type SizedPrompt } from './prompts.js';
import { baselineFor, deltas, markBound, renderTables } from './report.js';
import { SCENARIOS, requestBody, setUp, type Live, type Workload } from './scenarios.js';
import { summarizeStep, sustainedConcurrency, type StepShape, type StepSummary } from './summarize.js';

/** quick and full: the closed-loop ladder, the open-loop rates, then the prompt-length sweep. */

interface StepContext {
  options: Options;
  sampler: MemorySampler;
}

const LAG_RESOLUTION_MS = 10;

interface StepPlan {
  shape: LoadShape;
  stepShape: StepShape;
  label: string;
  body: string;
}

async function runStep(live: Live, plan: StepPlan, ctx: StepContext): Promise<StepSummary> {
  const { options } = ctx;
  const expectedMs = options.maxTokens * options.intervalMs;
  const startedAt = performance.now();
  const prefix = `b-${live.result.name}-${plan.label}-${Math.round(startedAt)}`;
  const pids = [live.gateway?.pid, live.upstream.child.pid].filter((p): p is number => p !== undefined);
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  const gatewayPid = live.gateway?.pid;
  await live.gateway?.loopLag(); // starts the gateway's interval: what it reports after the load is this step's
  const mainBefore = gatewayPid === undefined ? null : mainThreadCpuSeconds(gatewayPid);
  const cpuBefore = readTreeCpu(pids);
  const generatorBefore = process.cpuUsage();
  lag.enable();
  const load = await runLoad(plan.shape, {
    target: live.target,
    body: plan.body,
    maxTokens: options.maxTokens,
    timeoutMs: expectedMs * 5 + 10_000,
    requestId: (n) => `${prefix}-${n}`,
  });
  lag.disable();
  const generator = process.cpuUsage(generatorBefore);
  const cpuAfter = readTreeCpu(pids);
  const mainAfter = gatewayPid === undefined ? null : mainThreadCpuSeconds(gatewayPid);
  const gatewayLag = (await live.gateway?.loopLag()) ?? null;
  const endedAt = performance.now();
  ctx.sampler.sample();
  const ids = load.records.filter((r) => r.ttftMs !== null).map((r) => r.requestId);
  await live.upstream.log.waitFor(ids, 3_000);
  const reading = (child: ManagedChild | null) =>
    child === null ? null : { before: cpuBefore.get(child.pid) ?? null, after: cpuAfter.get(child.pid) ?? null };
  // The histogram records each timer period (the resolution plus any delay): the delay is what exceeds it.
  const ms = (ns: number): number => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS);
  const summary = summarizeStep({
    scenario: live.result.name,
    shape: plan.stepShape,
    records: load.records,
    wallMs: load.wallMs,
    dropped: load.dropped,
    pacingMs: options.intervalMs,
    timings: live.upstream.log.timings,
    gatewayRssPeakKiB: live.gateway ? ctx.sampler.peakRss(live.gateway.name, startedAt, endedAt) : null,
    upstreamRssPeakKiB: ctx.sampler.peakRss(live.upstream.child.name, startedAt, endedAt),
    cpu: {
      wallMs: endedAt - startedAt,
      gateway: reading(live.gateway),
      gatewayMainThread: gatewayPid === undefined ? null : { before: mainBefore, after: mainAfter },
      upstream: reading(live.upstream.child),
      generator: { before: 0, after: (generator.user + generator.system) / 1e6 },
      loopLagMs: lag.count > 0 ? { p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max) } : null,
      gatewayLoopLagMs: gatewayLag && gatewayLag.samples > 0 ? gatewayLag : null,
    },
  });
  live.upstream.log.forget(ids);
  const f = (v: number | null | undefined, digits = 1): string =>
    v === null || v === undefined ? '—' : v.toFixed(digits);
  log(
    `${live.result.name.padEnd(11)} ${plan.label.padStart(6)}: ${summary.ok}/${summary.requests} ok, ${summary.requestsPerSecond.toFixed(1)} req/s, ` +
      `TTFT p50 ${f(summary.ttft.p50)} p99 ${f(summary.ttft.p99)}, ITL p99 ${f(summary.itl.p99)}, bursts ${f((summary.gapProfile.burstShare ?? 0) * 100)}%, ` +
      `lost ${summary.lostTokens}, stalls ${summary.stalls}, CPU/1k tok ${f(summary.cpu?.gateway?.perThousandTokens, 3)} s, generator ${f((summary.cpu?.generator?.coreShare ?? 0) * 100, 0)}% of a core`,
  );
  return summary;
}

/**
 * How much CPU went to processes outside the benchmark while it ran: the machine's busy time minus
 * this process's and its children's (a child that exits before the end is counted up to its last
 * reading).
 */
class CpuAccount {
  private readonly machine0 = machineBusySeconds();
  private readonly wall0 = performance.now();
  private readonly self0 = process.cpuUsage();
  private readonly children0 = new Map<number, number>();

  constructor(private readonly children: () => ManagedChild[]) {
    for (const c of children()) this.children0.set(c.pid, processCpuSeconds(c.pid) ?? 0);
  }

  otherShare(): { otherSeconds: number; oursSeconds: number; wallSeconds: number } | null {
    const machine1 = machineBusySeconds();
    if (this.machine0 === null || machine1 === null) return null;
    const self = process.cpuUsage(this.self0);
    let ours = (self.user + self.system) / 1e6;
    for (const c of this.children()) ours += (processCpuSeconds(c.pid) ?? 0) - (this.children0.get(c.pid) ?? 0);
    const wallSeconds = (performance.now() - this.wall0) / 1000;
    return { otherSeconds: Math.max(0, machine1 - this.machine0 - ours), oursSeconds: ours, wallSeconds };
  }
}

/** A scenario whose gateway or upstream died is marked failed (once) and gets no more steps. */
function alive(l: Live): boolean {
  const dead = [l.gateway, l.upstream.child].find((c) => c !== null && !c.running);
  if (!dead) return true;
  if (l.result.status === 'ran') {
    l.result.status = 'failed';
    l.result.reason = `${dead.name} exited during the run; its last output: ${dead.outputTail(400).trim().split('\n').slice(-3).join(' | ')}`;
    log(`${l.result.name}: ${l.result.reason}`);
  }
  return false;
}

export function closedShape(
  concurrency: number,
  durationMs: number,
  options: Options,
): Extract<LoadShape, { kind: 'closed' }> {
  const expectedMs = options.maxTokens * options.intervalMs;
  return {
    kind: 'closed',
    concurrency,
    durationMs,
    // Generous but finite: a gateway that answers instantly with errors cannot loop forever.
    maxRequests: concurrency * Math.ceil(durationMs / expectedMs + 1) * 4 + 100,
    rampMs: Math.min(expectedMs, durationMs / 4),
  };
}

function openShape(rate: number, options: Options): LoadShape {
  const expectedS = (options.maxTokens * options.intervalMs) / 1000;
  return {
    kind: 'open',
    ratePerSecond: rate,
    durationMs: options.stepMs,
    maxRequests: Math.ceil((rate * options.stepMs) / 1000) * 2 + 10,
    maxInFlight: Math.max(64, Math.ceil(rate * expectedS * 4)),
    seed: 42,
  };
}

const kib = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : v / 1024);

const runs = (l: Live, workload: Workload): boolean => l.spec.workloads.includes(workload);

/**
 * Sizes the sweep's prompts against each gateway's own tokenizer (see prompts.ts). Direct has no
 * tokenizer of its own (its usage is a word estimate): it gets the prompts sized for the real-size
 * proxy, else for the first proxy that has them.
 */
async function sizePrompts(live: readonly Live[], options: Options): Promise<Map<Live, SizedPrompt[]>> {
  const sized = new Map<Live, SizedPrompt[]>();
  const gateways = live.filter((l) => l.result.name !== 'direct');
  for (const l of gateways) {
    const prompts: SizedPrompt[] = [];
    for (const target of options.promptTokens)
      prompts.push(await sizePrompt(target, (text) => countPromptTokens(l.target, l.upstream.model, text)));
    log(`${l.result.name}: prompts sized to ${prompts.map((p) => `${p.tokens}`).join(', ')} tokens`);
    sized.set(l, prompts);
  }
  const direct = live.find((l) => l.result.name === 'direct');
  if (direct) {
    const donor = gateways.find((l) => l.result.name === 'proxy-h4096') ?? gateways[0];
    const prompts = donor
      ? sized.get(donor)!
      : await Promise.all(
          options.promptTokens.map((t) =>
            sizePrompt(t, (text) => countPromptTokens(direct.target, direct.upstream.model, text)),
          ),
        );
    sized.set(direct, prompts);
  }
  return sized;
}

export async function benchLadder(options: Options): Promise<void> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const workloads: Workload[] = [
    ...(options.ladder.length > 0 || options.openRates.length > 0 ? (['ladder'] as const) : []),
    ...(options.promptTokens.length > 0 ? (['prompts'] as const) : []),
  ];
  const wanted = options.scenarios.filter((name) =>
    SCENARIOS.some((s) => s.name === name && s.workloads.some((w) => workloads.includes(w))),
  );
  const { live, results, upstreams } = await setUp(options, wanted);
  const children = (): ManagedChild[] => [
    ...upstreams.map((u) => u.child),
    ...live.flatMap((l) => (l.gateway ? [l.gateway] : [])),
  ];
  const sampler = new MemorySampler(children, 250);
  sampler.start();
  const ctx: StepContext = { options, sampler };
  const notes: string[] = [];
  const shortBody = (l: Live): string => requestBody(l.upstream.model, options.maxTokens);

  log(`warm-up: ${options.warmupMs / 1000} s per scenario at concurrency 4 (not reported)`);
  for (const l of live)
    await runLoad(closedShape(4, options.warmupMs, options), {
      target: l.target,
      body: shortBody(l),
      maxTokens: options.maxTokens,
      timeoutMs: 30_000,
      requestId: (n) => `b-warmup-${l.result.name}-${n}`,
    });
  await sleep(500);
  for (const l of live) l.result.gatewayRssBeforeMiB = kib(l.gateway?.memory()?.rssKiB);

  const cpu = new CpuAccount(children);
  const overBudget = (): boolean => performance.now() - started > options.budgetMs;
  const step = async (l: Live, plan: StepPlan): Promise<void> => {
    if (overBudget() || !alive(l)) return;
    l.result.steps.push(await runStep(l, plan, ctx));
    await sleep(500);
  };
  const ladderLive = live.filter((l) => runs(l, 'ladder'));
  // Interleaved: at each load level every scenario runs in turn, so slow drift of the machine hits all alike.
  for (const concurrency of options.ladder)
    for (const l of ladderLive)
      await step(l, {
        shape: closedShape(concurrency, options.stepMs, options),
        stepShape: { kind: 'closed', concurrency },
        label: `c${concurrency}`,
        body: shortBody(l),
      });
  for (const rate of options.openRates)
    for (const l of ladderLive)
      await step(l, {
        shape: openShape(rate, options),
        stepShape: { kind: 'open', ratePerSecond: rate },
        label: `r${rate}`,
        body: shortBody(l),
      });
  const promptLive = options.promptTokens.length > 0 ? live.filter((l) => runs(l, 'prompts')) : [];
  if (promptLive.length > 0) {
    const prompts = await sizePrompts(promptLive, options);
    for (let i = 0; i < options.promptTokens.length; i++)
      for (const l of promptLive) {
        const prompt = prompts.get(l)![i]!; // sized above for every live prompt scenario and length
        await step(l, {
          shape: { ...closedShape(1, options.stepMs, options), minRequests: 5, hardDurationMs: options.stepMs * 3 },
          stepShape: {
            kind: 'prompt',
            concurrency: 1,
            promptTokens: prompt.target,
            measuredPromptTokens: prompt.tokens,
          },
          label: `p${prompt.target}`,
          body: requestBody(l.upstream.model, options.maxTokens, prompt.text),
        });
      }
  }
  if (overBudget())
    notes.push(
      `stopped starting steps after the ${options.budgetMs / 1000} s budget of this mode; the table is partial`,
    );

  const other = cpu.otherShare();
  if (other !== null) {
    notes.push(
      `while the steps ran, processes outside this benchmark used ${((other.otherSeconds / other.wallSeconds) * 100).toFixed(0)}% of one core on average ` +
        `(the benchmark's own processes: ${((other.oursSeconds / other.wallSeconds) * 100).toFixed(0)}%)${other.otherSeconds / other.wallSeconds > 0.1 ? ': other work competed for the CPU, expect noise' : ''}`,
    );
  }
  // Memory once the load is over (after the sockets' keep-alive timeouts had a moment).
  await sleep(3_000);
  sampler.sample();
  sampler.stop();
  for (const l of live) {
    l.result.sustainedConcurrency = sustainedConcurrency(l.result.steps);
    const memory = l.gateway?.memory();
    l.result.gatewayRssAfterMiB = kib(memory?.rssKiB);
    l.result.gatewayPeakRssMiB = kib(memory?.hwmKiB);
  }
  markBound(results);
  const upstreamMemory = upstreams.map((u) => ({ name: u.child.name, ...u.child.memory() }));
  notes.push(
    `reference server(s) at the end: ${upstreamMemory.map((u) => `${u.name} RSS ${fmtMib(u.rssKiB)} MiB, peak ${fmtMib(u.hwmKiB)} MiB`).join('; ')}`,
  );
  notes.push(
    `load generator: this process, ${fmtMib(process.memoryUsage().rss, 'bytes')} MiB RSS; every process shares the machine's ${os.cpus().length} cores`,
  );

  await stopAll(options.profile ? 20_000 : 5_000);
  const meta = machineMeta(options, startedAt, (performance.now() - started) / 1000, notes);
  process.stdout.write(`\n${renderTables(meta, results)}\n`);

  const tag = options.profile ? 'profile' : options.custom ? 'custom' : options.mode;
  mkdirSync(RESULTS, { recursive: true });
  const json = join(RESULTS, `bench-${tag}.json`);
  const directSteps = results.find((r) => r.name === 'direct')?.steps ?? [];
  const withDeltas = results.map((r) => ({
    ...r,
    steps: r.steps.map((s) => ({
      ...s,
      deltaVsDirect: r.name === 'direct' ? null : deltas(s, baselineFor(s, directSteps)),
    })),
  }));
  writeFileSync(json, `${JSON.stringify({ meta, scenarios: withDeltas }, null, 2)}\n`);
  const files = [json];
  if (!options.profile) {
    const svg = ladderChart(meta, results);
    for (const name of options.custom ? [`bench-${tag}.svg`] : [`bench-${tag}.svg`, 'latest.svg']) {
      writeFileSync(join(RESULTS, name), svg);
      files.push(join(RESULTS, name));
    }
  }
  log(`wrote ${files.map((f) => f.slice(ROOT.length + 1)).join(', ')}; child logs in ${LOGS.slice(ROOT.length + 1)}/`);
  if (options.profile) printProfiles();
}

function printProfiles(): void {
  const files = existsSync(PROFILES) ? readdirSync(PROFILES).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) {
    log('no .cpuprofile was written (a gateway did not exit cleanly?)');
    return;
  }
  for (const f of files.sort()) {
    const summary = summarizeProfile(join(PROFILES, f), ROOT);
    const text = renderProfile(`CPU profile ${f}`, summary);
    process.stdout.write(`\n${text}\n`);
    writeFileSync(join(PROFILES, `${f.replace(/\.cpuprofile$/, '')}.summary.txt`), `${text}\n`);
  }
}
