// serve.mjs: llama.cpp's server behaviour through node-llama-cpp, to set beside ondo's engine
// benchmarks (engine/bench_test.go, BenchmarkThroughput and BenchmarkTimeToFirst):
//
//   - aggregate generated tokens/s with 1, 4 and 8 concurrent streams in one context: each stream
//     is a sequence of the context, and node-llama-cpp puts the sequences' pending tokens into one
//     llama_decode per step, as llama-server does with --parallel;
//   - time to the first token of a 1,005-token prompt from an empty sequence (cold), and of the
//     next one sharing its first 1,000 tokens, which stay in the sequence's KV cache (warm), as
//     llama-server reuses a slot's cached prompt.
//
// The prompts are random token ids (the same kind ondo's benchmarks use), sampling is greedy
// (temperature 0) and nothing stops a stream before --tokens: the figures measure the engines,
// not the text. Usage:
//
//   node serve.mjs --model /tmp/1b-q4_0.gguf --threads 2 [--streams 1,4,8] [--tokens 32] [--reps 3]
import { parseArgs } from "node:util";
import { loadModel } from "./lib.mjs";

const { values } = parseArgs({
    options: {
        model: { type: "string" },
        threads: { type: "string", default: "2" },
        streams: { type: "string", default: "1,4,8" },
        tokens: { type: "string", default: "32" },
        reps: { type: "string", default: "3" },
        prefix: { type: "string", default: "1000" }
    }
});
if (!values.model) throw new Error("--model FILE is required");
const threads = Number(values.threads);
const tokens = Number(values.tokens);
const reps = Number(values.reps);
const prefix = Number(values.prefix);
const streamCounts = values.streams.split(",").map(Number);

const model = await loadModel(values.model);
const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
if (!Number.isInteger(vocab) || vocab < 4) throw new Error(`cannot read the vocabulary size of ${values.model}`);

// A small deterministic generator, so that runs are repeatable.
let seed = 12345;
function randomTokens(n) {
    const out = [];
    for (let i = 0; i < n; i++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        out.push(3 + (seed % (vocab - 3)));
    }
    return out;
}

async function newContext(sequences, contextSize) {
    const context = await model.createContext({ contextSize, sequences, batchSize: 512, threads, flashAttention: false });
    const got = context._ctx.getThreads();
    if (got !== threads) throw new Error(`llama.cpp uses ${got} threads, asked for ${threads}`);
    return context;
}

function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
}

// One stream: evaluate the prompt, take `tokens` greedy tokens; returns the times of the first
// token and of the last.
async function stream(sequence, prompt) {
    let first = 0;
    let n = 0;
    for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) {
        if (n === 0) first = performance.now();
        if (++n === tokens) break;
    }
    return { first, end: performance.now() };
}

const result = { model: values.model, threads, tokens, reps, throughput: [], ttft: null };
for (const n of streamCounts) {
    const context = await newContext(n, n * 256);
    const seqs = Array.from({ length: n }, () => context.getSequence());
    const rates = [];
    for (let rep = 0; rep < reps; rep++) {
        await Promise.all(seqs.map((s) => s.clearHistory()));
        const runs = await Promise.all(seqs.map((s) => stream(s, randomTokens(8))));
        const first = Math.min(...runs.map((r) => r.first));
        const end = Math.max(...runs.map((r) => r.end));
        rates.push((n * (tokens - 1)) / ((end - first) / 1000));
    }
    await context.dispose();
    result.throughput.push({ streams: n, gen_tokens_per_s: median(rates), reps: rates });
    console.error(`streams=${n}: ${median(rates).toFixed(2)} generated tokens/s (median of ${reps})`);
}

// The same steps without node-llama-cpp's scheduling: one llama_decode per step holding the next
// token of each of n sequences (each with an 8-token prompt already in its cache), as llama-server
// builds a batch from its slots: n / (time of a step) is the most batching gives on llama.cpp's
// kernels (ondo's counterpart: BenchmarkDecodeStep).
result.decode_step = [];
for (const n of streamCounts) {
    const context = await newContext(n, n * 64);
    const ctx = context._ctx;
    const one = Uint32Array.of(0);
    for (let s = 0; s < n; s++) {
        ctx.initBatch(8);
        ctx.addToBatch(s, 0, Uint32Array.from(randomTokens(8)), one);
        await ctx.decodeBatch();
    }
    const steps = 16;
    const times = [];
    for (let rep = 0; rep < reps; rep++) {
        const t = performance.now();
        for (let i = 0; i < steps; i++) {
            ctx.initBatch(n);
            for (let s = 0; s < n; s++) {
                ctx.addToBatch(s, 8 + rep * steps + i, Uint32Array.of(100 + s), Uint32Array.of(0));
            }
            await ctx.decodeBatch();
        }
        times.push((performance.now() - t) / steps);
    }
    await context.dispose();
    result.decode_step.push({ streams: n, step_ms: median(times), tokens_per_s: n / (median(times) / 1000) });
    console.error(`decode step, ${n} sequences in one llama_decode: ${median(times).toFixed(1)} ms, ${(n / (median(times) / 1000)).toFixed(2)} tokens/s`);
}

{
    const context = await newContext(1, prefix + 100);
    const seq = context.getSequence();
    const cold = [];
    const warm = [];
    async function firstToken(toks) {
        const t = performance.now();
        const gen = seq.evaluate(toks, { temperature: 0 });
        await gen.next();
        const ms = performance.now() - t;
        await gen.return();
        return ms;
    }
    for (let rep = 0; rep < reps; rep++) {
        const shared = randomTokens(prefix);
        await seq.clearHistory();
        cold.push(await firstToken([...shared, ...randomTokens(5)]));
        // Keep the shared prefix, drop the rest, as a slot with a cached prompt does.
        await seq.eraseContextTokenRanges([{ start: prefix, end: seq.nextTokenIndex }]);
        warm.push(await firstToken(randomTokens(5)));
    }
    await context.dispose();
    result.ttft = { prefix, cold_ms: median(cold), warm_ms: median(warm), ratio: median(cold) / median(warm), cold, warm };
    console.error(`time to first token, ${prefix + 5}-token prompt: ${median(cold).toFixed(1)} ms cold, ` +
        `${median(warm).toFixed(1)} ms sharing ${prefix} tokens (${(median(cold) / median(warm)).toFixed(1)}×)`);
}
console.log(JSON.stringify(result));
process.exit(0);
