// bench.mjs: ondo against llama.cpp (node-llama-cpp 3.21.1) on the same GGUF files with the same
// thread counts, llama-bench style: pp = tokens/s evaluating one batch of --pp tokens from an empty
// cache, tg = tokens/s evaluating --tg tokens one at a time from an empty cache, nothing sampled.
//
//   node bench.mjs --model FILE [--model FILE2 ...] [--threads 1,2] [--reps 5] [--pp 512] [--tg 128]
//                  [--ondo PATH] [--warmup-pp N] [--membw-mib 1024] [--no-membw] [--json FILE]
//   node bench.mjs --render FILE      (print the tables of a saved --json FILE again)
//
// Runs alternate, ondo then llama.cpp, rep after rep (A B A B …), so that drift in the machine's
// state (other processes, thermals) hits both engines alike; each figure is the median over reps.
// Every run is a fresh process that loads the model, warms up (one batch of --warmup-pp tokens,
// default --pp, and one generation step) and measures once:
//   ondo       `ondo bench --json --reps 1` as a subprocess; without --ondo the harness builds it
//              first with `go build -o` from this repository.
//   llama.cpp  this script re-run as a child Node process (--llama-child): a fresh context with
//              `threads`, batchSize 512 and flash attention off; its peak RSS is the child's VmHWM
//              (/proc/self/status; process.resourceUsage().maxRSS elsewhere), which includes the
//              Node runtime (its baseline before loading the model is in the JSON).
// Before the runs it measures streaming-read memory bandwidth with `ondo bench --membw` and prints
// the generation bound, bandwidth / weight bytes read per token, and the fraction of it each engine
// reaches. The report is markdown tables on stdout (--json FILE also saves every run as JSON);
// progress goes to stderr. Measure on a quiet machine: llama.cpp's worker threads spin-wait, so
// any other busy process slows it far more than its share of CPU. Each run records the share of
// the CPUs other processes used meanwhile (others_cpu), and the report prints it.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");

function die(msg) {
    process.stderr.write(`bench.mjs: ${msg}\n`);
    process.exit(1);
}

let opt;
try {
    ({ values: opt } = parseArgs({
        options: {
            model: { type: "string", multiple: true, default: [] },
            threads: { type: "string", default: "" },
            reps: { type: "string", default: "5" },
            pp: { type: "string", default: "512" },
            tg: { type: "string", default: "128" },
            "warmup-pp": { type: "string", default: "" },
            ondo: { type: "string", default: "" },
            "membw-mib": { type: "string", default: "1024" },
            "no-membw": { type: "boolean", default: false },
            json: { type: "string", default: "" },
        render: { type: "string", default: "" },
            "llama-child": { type: "boolean", default: false },
            help: { type: "boolean", short: "h", default: false }
        },
        strict: true
    }));
} catch (e) {
    die(`${e.message} (--help for usage)`);
}

function posInt(name, v, min = 1) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) die(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
}

// benchToken is the token id fed at step i: the same fixed pseudo-random ids `ondo bench` uses.
function benchToken(i, vocab) {
    return 1 + ((i * 7919) % (vocab - 1));
}

// procStatusBytes reads a "Key: n kB" line of /proc/self/status; null where there is none.
function procStatusBytes(key) {
    try {
        const m = fs.readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
        return m ? Number(m[1]) * 1024 : null;
    } catch {
        return null;
    }
}

// ---------------------------------------------------------------------------------------------
// llama.cpp side: one measurement in this (child) process, printed as one JSON line on stdout.
//
// How tg is measured. node-llama-cpp's public API (LlamaContextSequence.evaluate /
// controlledEvaluate) runs a batching scheduler, a sampler and token bookkeeping in JavaScript for
// every token; its docs figure for tg on this machine is 10% below llama.cpp's own benchmark at 2
// threads. Instead this uses the addon's context object (LlamaContext._ctx, the N-API wrapper of
// llama_context) directly, which is the lowest level node-llama-cpp exposes:
//   initBatch(1)                   llama_batch_init for one token (a small malloc)
//   addToBatch(0, pos, [tok], [0]) common_batch_add: the token, its position, logits wanted
//   await decodeBatch()            llama_decode + llama_synchronize on a libuv worker thread
// No sampling and no logits read back: the next token is the fixed benchToken(i) (as llama-bench
// feeds random ids and `ondo bench` the same fixed ids). The JavaScript and N-API part is timed
// here (tg_js_us_per_token); the async hop (queueing on the libuv pool, resolving the promise) is
// estimated with an fs.promises.stat round trip (async_hop_us), the same libuv work-queue path.
// Together they are ~10-30 µs per token, well under 0.1% of a 1B model's 50-100 ms token. What
// remains is llama.cpp's own per-decode cost: through this addon ggml starts and joins its worker
// threads on every llama_decode (llama-bench keeps a persistent thread pool), which the notes
// measured at 4-10% of 2-thread generation on a 1B model; that is how llama.cpp runs embedded, and
// it is kept. pp is the same path with up to 512 tokens per decode (batchSize 512), logits for the
// last token only.
async function llamaChild() {
    const modelPath = opt.model[0];
    const threads = posInt("threads", opt.threads);
    const pp = posInt("pp", opt.pp);
    const tg = posInt("tg", opt.tg);
    const warmupPP = opt["warmup-pp"] === "" ? pp : posInt("warmup-pp", opt["warmup-pp"], 0);
    const { loadModel } = await import("./lib.mjs");
    const baseline = procStatusBytes("VmRSS");

    const t0 = performance.now();
    const model = await loadModel(modelPath);
    const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    if (!Number.isInteger(vocab) || vocab < 2) throw new Error(`cannot read the vocabulary size of ${modelPath}`);
    const batchSize = 512;
    const context = await model.createContext({
        contextSize: Math.max(pp, warmupPP) + tg + 8,
        batchSize,
        sequences: 1,
        threads,
        flashAttention: false
    });
    const ctx = context._ctx; // the addon's llama_context wrapper
    ctx.setThreads(threads);
    if (ctx.getThreads() !== threads) throw new Error(`llama.cpp uses ${ctx.getThreads()} threads, asked for ${threads}`);
    const loadSeconds = (performance.now() - t0) / 1000;

    const prompt = Uint32Array.from({ length: Math.max(pp, warmupPP) }, (_, i) => benchToken(i, vocab));
    const steps = Array.from({ length: tg }, (_, i) => Uint32Array.of(benchToken(i, vocab)));
    const none = new Uint32Array(0);
    const first = Uint32Array.of(0);
    const clear = () => ctx.disposeSequence(0); // llama_memory_seq_rm(seq 0, all positions)

    async function runPrompt(n) {
        clear();
        const t = performance.now();
        for (let lo = 0; lo < n; lo += batchSize) {
            const hi = Math.min(lo + batchSize, n);
            ctx.initBatch(hi - lo);
            ctx.addToBatch(0, lo, prompt.subarray(lo, hi), hi === n ? Uint32Array.of(hi - lo - 1) : none);
            await ctx.decodeBatch();
        }
        return (performance.now() - t) / 1000;
    }
    async function runGen(n) {
        clear();
        const t = performance.now();
        for (let i = 0; i < n; i++) {
            ctx.initBatch(1);
            ctx.addToBatch(0, i, steps[i], first);
            await ctx.decodeBatch();
        }
        return (performance.now() - t) / 1000;
    }

    let warmupSeconds = 0;
    if (warmupPP > 0) {
        warmupSeconds = await runPrompt(warmupPP) + await runGen(1);
    }
    const ppSeconds = await runPrompt(pp);
    const tgSeconds = await runGen(tg);

    // Per-token overhead of the tg loop outside llama_decode.
    const k = 2000;
    let t = performance.now();
    for (let i = 0; i < k; i++) {
        ctx.initBatch(1);
        ctx.addToBatch(0, 0, steps[0], first);
    }
    const jsUs = (performance.now() - t) * 1000 / k;
    t = performance.now();
    for (let i = 0; i < k; i++) await fsp.stat("/");
    const hopUs = (performance.now() - t) * 1000 / k;

    const peak = procStatusBytes("VmHWM") ?? process.resourceUsage().maxRSS * 1024;
    const cpu = process.cpuUsage();
    const res = {
        engine: "llama.cpp",
        model: modelPath,
        threads: ctx.getThreads(),
        pp, tg, warmup_pp: warmupPP,
        pp_tps: pp / ppSeconds,
        tg_tps: tg / tgSeconds,
        load_seconds: loadSeconds,
        warmup_seconds: warmupSeconds,
        tg_js_us_per_token: jsUs,
        async_hop_us: hopUs,
        peak_rss_bytes: peak,
        baseline_rss_bytes: baseline,
        cpu_seconds: (cpu.user + cpu.system) / 1e6
    };
    await context.dispose();
    await new Promise((resolve, reject) => process.stdout.write(JSON.stringify(res) + "\n", (e) => (e ? reject(e) : resolve())));
    process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Parent: alternate the engines and report.

// cpuBusyMs is the CPU time all processes have used since boot, all CPUs together.
function cpuBusyMs() {
    return os.cpus().reduce((a, c) => a + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);
}

// measured runs a benchmark process and adds others_cpu to its result: the share of the machine's
// CPU time that other processes used while it ran (its own cpu_seconds subtracted), a measure of
// how far the run was from a quiet machine.
async function measured(cmd, args, what) {
    const b0 = cpuBusyMs();
    const t0 = performance.now();
    const r = await runJSON(cmd, args, what);
    const wallMs = performance.now() - t0;
    const otherMs = cpuBusyMs() - b0 - (r.cpu_seconds ?? NaN) * 1000;
    r.others_cpu = Math.min(1, Math.max(0, otherMs / (wallMs * os.cpus().length)));
    r.wall_seconds = wallMs / 1000;
    return r;
}

// runJSON starts a process and returns its stdout parsed as JSON; stderr passes through.
function runJSON(cmd, args, what) {
    return new Promise((resolve, reject) => {
        const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        p.stdout.setEncoding("utf8");
        p.stdout.on("data", (d) => { out += d; });
        p.on("error", reject);
        p.on("close", (code, signal) => {
            if (code !== 0) return reject(new Error(`${what} failed (${signal ?? "exit " + code})`));
            try {
                resolve(JSON.parse(out));
            } catch (e) {
                reject(new Error(`${what}: bad JSON output: ${e.message}\n${out}`));
            }
        });
    });
}

function buildOndo() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ondo-bench-"));
    const bin = path.join(dir, process.platform === "win32" ? "ondo.exe" : "ondo");
    process.stderr.write(`building ondo: go build -o ${bin} ./cmd/ondo\n`);
    const r = spawnSync("go", ["build", "-o", bin, "./cmd/ondo"], { cwd: repoRoot, stdio: "inherit" });
    if (r.status !== 0) die("go build failed (or pass --ondo PATH)");
    return bin;
}

const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    const n = s.length;
    return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const mib = (b) => (b > 0 ? `${(b / 2 ** 20).toFixed(0)} MiB` : "–");
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : "–");

async function main() {
    if (opt.render !== "") {
        process.stdout.write(render(JSON.parse(fs.readFileSync(opt.render, "utf8"))));
        return;
    }
    if (opt.help || opt.model.length === 0) {
        process.stderr.write("usage: node bench.mjs --model FILE [--model FILE ...] [--threads 1,2] [--reps 5] " +
            "[--pp 512] [--tg 128] [--ondo PATH] [--warmup-pp N] [--membw-mib 1024] [--no-membw] [--json FILE]\n" +
            "       node bench.mjs --render FILE\n");
        process.exit(opt.help ? 0 : 1);
    }
    const cores = os.availableParallelism();
    const threadList = (opt.threads === "" ? [...new Set([1, cores])] : opt.threads.split(","))
        .map((t) => posInt("threads", String(t).trim()));
    const reps = posInt("reps", opt.reps);
    const pp = posInt("pp", opt.pp);
    const tg = posInt("tg", opt.tg);
    const warmupPP = opt["warmup-pp"] === "" ? pp : posInt("warmup-pp", opt["warmup-pp"], 0);
    const membwMiB = posInt("membw-mib", opt["membw-mib"]);
    for (const m of opt.model) {
        if (!fs.existsSync(m)) die(`no such model file: ${m}`);
    }
    const ondo = opt.ondo !== "" ? path.resolve(opt.ondo) : buildOndo();
    if (!fs.existsSync(ondo)) die(`no ondo binary at ${ondo}`);

    const load = os.loadavg()[0];
    if (load > 0.5)
        process.stderr.write(`warning: load average ${load.toFixed(2)}: other processes are running; llama.cpp's spinning threads suffer most\n`);

    // Memory bandwidth, one figure per goroutine count up to the most threads asked for.
    let membw = null;
    if (!opt["no-membw"]) {
        process.stderr.write(`measuring memory bandwidth (${membwMiB} MiB streaming read)\n`);
        membw = await runJSON(ondo, ["bench", "--membw", "--json", "--membw-mib", String(membwMiB),
            "--threads", String(Math.max(...threadList))], "ondo bench --membw");
    }
    const bandwidth = (t) => {
        if (membw == null) return NaN;
        const r = membw.results.find((x) => x.goroutines === t) ?? membw.results[membw.results.length - 1];
        return r.gb_per_s * 1e9;
    };

    const rows = [];
    for (const modelPath of opt.model) {
        for (const threads of threadList) {
            const runs = { ondo: [], llama: [] };
            const common = ["--model", modelPath, "--threads", String(threads), "--pp", String(pp), "--tg", String(tg),
                "--warmup-pp", String(warmupPP)];
            for (let rep = 1; rep <= reps; rep++) {
                const tag = `${path.basename(modelPath)} threads=${threads} rep ${rep}/${reps}`;
                const o = await measured(ondo, ["bench", "--json", "--reps", "1", ...common], `ondo bench (${tag})`);
                runs.ondo.push(o);
                process.stderr.write(`${tag}  ondo       pp ${fmt(o.pp_tps)}  tg ${fmt(o.tg_tps)} tok/s  ` +
                    `RSS ${mib(o.peak_rss_bytes)}  (${o.wall_seconds.toFixed(0)} s, others' CPU ${pct(o.others_cpu)})\n`);
                const l = await measured(process.execPath, [fileURLToPath(import.meta.url), "--llama-child", ...common],
                    `llama.cpp (${tag})`);
                runs.llama.push(l);
                process.stderr.write(`${tag}  llama.cpp  pp ${fmt(l.pp_tps)}  tg ${fmt(l.tg_tps)} tok/s  ` +
                    `RSS ${mib(l.peak_rss_bytes)}  (${l.wall_seconds.toFixed(0)} s, others' CPU ${pct(l.others_cpu)})\n`);
            }
            const o0 = runs.ondo[0];
            const row = {
                model: modelPath,
                file_bytes: o0.file_bytes,
                type: o0.type,
                read_bytes_per_token: o0.read_bytes_per_token,
                threads,
                ondo: {
                    pp_tps: median(runs.ondo.map((r) => r.pp_tps)),
                    tg_tps: median(runs.ondo.map((r) => r.tg_tps)),
                    peak_rss_bytes: Math.max(...runs.ondo.map((r) => r.peak_rss_bytes)),
                    others_cpu: median(runs.ondo.map((r) => r.others_cpu))
                },
                llama: {
                    pp_tps: median(runs.llama.map((r) => r.pp_tps)),
                    tg_tps: median(runs.llama.map((r) => r.tg_tps)),
                    peak_rss_bytes: Math.max(...runs.llama.map((r) => r.peak_rss_bytes)),
                    others_cpu: median(runs.llama.map((r) => r.others_cpu)),
                    tg_overhead_us_per_token: median(runs.llama.map((r) => r.tg_js_us_per_token + r.async_hop_us))
                },
                bandwidth_bytes_per_s: bandwidth(threads),
                runs
            };
            row.tg_bound_tps = row.bandwidth_bytes_per_s / row.read_bytes_per_token;
            rows.push(row);
        }
    }

    const loadEnd = os.loadavg()[0];
    const report = { pp, tg, reps, warmup_pp: warmupPP, ondo, load_average: load, load_average_end: loadEnd, membw, rows };
    if (opt.json !== "") fs.writeFileSync(opt.json, JSON.stringify(report, null, 2) + "\n");
    process.stdout.write(render(report));
}

// render formats a report as markdown tables.
function render({ pp, tg, reps, membw, rows, load_average: load, load_average_end: loadEnd }) {
    const out = [];
    out.push(`ondo vs llama.cpp (node-llama-cpp 3.21.1), median of ${reps} alternating runs; ` +
        `tokens/s; ratio = ondo / llama.cpp`);
    out.push("");
    out.push(`| model | threads | pp${pp} ondo | pp${pp} llama.cpp | ratio | tg${tg} ondo | tg${tg} llama.cpp | ratio | peak RSS ondo | peak RSS llama.cpp |`);
    out.push("|---|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
        out.push(`| ${path.basename(r.model)} (${r.type}, ${mib(r.file_bytes)}) | ${r.threads} | ` +
            `${fmt(r.ondo.pp_tps)} | ${fmt(r.llama.pp_tps)} | ${fmt(r.ondo.pp_tps / r.llama.pp_tps)} | ` +
            `${fmt(r.ondo.tg_tps)} | ${fmt(r.llama.tg_tps)} | ${fmt(r.ondo.tg_tps / r.llama.tg_tps)} | ` +
            `${mib(r.ondo.peak_rss_bytes)} | ${mib(r.llama.peak_rss_bytes)} |`);
    }
    if (membw != null) {
        out.push("");
        out.push(`Memory bandwidth (\`ondo bench --membw\`, ${mib(membw.buffer_bytes)} streaming read, best of ${membw.passes} passes): ` +
            membw.results.map((x) => `${x.goroutines} thread${x.goroutines > 1 ? "s" : ""} ${fmt(x.gb_per_s, 1)} GB/s`).join(", ") + ".");
        out.push("tg bound = bandwidth / weight bytes read per token.");
        out.push("");
        out.push(`| model | threads | GB/s | weight bytes/token | tg bound | ondo tg | of bound | llama.cpp tg | of bound |`);
        out.push("|---|---|---|---|---|---|---|---|---|");
        for (const r of rows) {
            out.push(`| ${path.basename(r.model)} | ${r.threads} | ${fmt(r.bandwidth_bytes_per_s / 1e9, 1)} | ` +
                `${mib(r.read_bytes_per_token)} | ${fmt(r.tg_bound_tps, 1)} | ${fmt(r.ondo.tg_tps)} | ${pct(r.ondo.tg_tps / r.tg_bound_tps)} | ` +
                `${fmt(r.llama.tg_tps)} | ${pct(r.llama.tg_tps / r.tg_bound_tps)} |`);
        }
    }
    out.push("");
    out.push(`Other processes' share of the CPUs during the runs (median): ` +
        rows.map((r) => `${r.threads}t ondo ${pct(r.ondo.others_cpu)}, llama.cpp ${pct(r.llama.others_cpu)}`).join("; ") +
        " (0% is a quiet machine).");
    out.push(`llama.cpp tg loop overhead outside llama_decode: ` +
        rows.map((r) => `${fmt(r.llama.tg_overhead_us_per_token, 0)} µs/token (${r.threads}t)`).join(", ") + ". " +
        `Load average ${fmt(load)} at start, ${fmt(loadEnd)} at end` +
        (Math.max(load, loadEnd ?? 0) > 0.5 ? ": other processes were running; these are not quiet-machine figures." : "."));
    return out.join("\n") + "\n";
}

try {
    if (opt["llama-child"]) await llamaChild();
    else await main();
} catch (e) {
    die(e?.stack ?? String(e));
}
