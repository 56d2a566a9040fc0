// grammar.mjs: generation speed with and without a JSON-schema constraint, ondo against llama.cpp
// (node-llama-cpp's createGrammarForJsonSchema, run by llama.cpp's grammar sampler), on the same
// GGUF file, schema, thread count and number of generated tokens.
//
//   node grammar.mjs --model /tmp/1b-q4_0.gguf --schema schema.json --threads 2 --tokens 128 --reps 3 \
//       [--ondo /tmp/ondo] [--prompt TEXT]
//
// Every run is a fresh process; runs alternate ondo plain, ondo schema, llama.cpp plain, llama.cpp
// schema, rep after rep, and the figures are medians. Sampling is temperature 1 with a fixed seed
// per rep; end-of-generation is not reachable before the schema's JSON is complete, so the schema
// must allow long outputs (an unbounded array, say) for every run to produce --tokens tokens;
// runs that finish early are reported with their token count. tokens/s counts the generated tokens
// after the first over the time from the first to the last (prompt evaluation excluded), for both.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel } from "node-llama-cpp";

function args() {
    const a = { threads: 2, tokens: 128, reps: 3, prompt: "Here is the JSON:", ondo: "" };
    const v = process.argv.slice(2);
    for (let i = 0; i < v.length; i++) {
        const k = v[i].replace(/^--/, "");
        if (k === "llama-child") { a.child = true; continue; }
        a[k] = v[++i];
    }
    for (const k of ["threads", "tokens", "reps"]) a[k] = Number(a[k]);
    if (!a.model || !a.schema) throw new Error("need --model FILE and --schema FILE");
    return a;
}

// child: one llama.cpp run, printing {"tokens", "tps"} as JSON.
async function llamaChild(a) {
    const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
        progressLogs: false, maxThreads: 0, logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
    const ctx = await model.createContext({ threads: a.threads, contextSize: 1024, batchSize: 512, sequences: 1,
        flashAttention: false });
    const seq = ctx.getSequence();
    const opts = { temperature: 1, seed: Number(a.seed ?? 1) };
    if (a.constrained === "1") {
        const schema = JSON.parse(fs.readFileSync(a.schema, "utf8"));
        const grammar = await llama.createGrammarForJsonSchema(schema);
        opts.grammarEvaluationState = new LlamaGrammarEvaluationState({ model, grammar });
    }
    const prompt = model.tokenize(a.prompt, true);
    let n = 0, first = 0, last = 0;
    for await (const token of seq.evaluate(prompt, opts)) {
        last = performance.now();
        if (n === 0) first = last;
        n++;
        if (model.isSpecialToken(token) && token === model.tokens.eos) break;
        if (n >= a.tokens) break;
    }
    process.stdout.write(JSON.stringify({ tokens: n, tps: (n - 1) / ((last - first) / 1000) }) + "\n");
    await ctx.dispose();
    await model.dispose();
}

function parseOndo(stderr) {
    // "generation:       2574.25 ms /   16 tokens (    6.22 tokens/s)"
    const m = /generation:\s+([\d.]+) ms \/\s+(\d+) tokens/.exec(stderr);
    if (!m) throw new Error("no generation line in ondo's output:\n" + stderr);
    const ms = Number(m[1]), n = Number(m[2]);
    return { tokens: n, tps: n / (ms / 1000) };
}

function median(x) {
    const s = [...x].sort((p, q) => p - q);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
    const a = args();
    if (a.child) return llamaChild(a);
    if (!a.ondo) {
        a.ondo = "/tmp/ondo-grammar-bench";
        execFileSync("go", ["build", "-o", a.ondo, "./cmd/ondo"], { cwd: new URL("../..", import.meta.url).pathname, stdio: "inherit" });
    }
    const runs = { "ondo": [], "ondo+schema": [], "llama.cpp": [], "llama.cpp+schema": [] };
    for (let rep = 0; rep < a.reps; rep++) {
        const seed = rep + 1;
        for (const constrained of [false, true]) {
            runs[constrained ? "ondo+schema" : "ondo"].push(parseOndo(ondoRun(a, constrained, seed)));
        }
        for (const constrained of [false, true]) {
            const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, "--llama-child",
                "--model", a.model, "--schema", a.schema, "--threads", String(a.threads), "--tokens", String(a.tokens),
                "--prompt", a.prompt, "--seed", String(seed), "--constrained", constrained ? "1" : "0"],
                { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
            runs[constrained ? "llama.cpp+schema" : "llama.cpp"].push(JSON.parse(out.trim().split("\n").pop()));
        }
        process.stderr.write(`rep ${rep + 1}/${a.reps} done\n`);
    }
    const med = {};
    for (const [k, v] of Object.entries(runs)) med[k] = { tps: median(v.map((r) => r.tps)), tokens: v.map((r) => r.tokens) };
    console.log(`| engine | tokens/s, no schema | tokens/s, schema | schema / none | tokens per run |`);
    console.log(`|---|---|---|---|---|`);
    for (const e of ["ondo", "llama.cpp"]) {
        const p = med[e], s = med[e + "+schema"];
        console.log(`| ${e} | ${p.tps.toFixed(2)} | ${s.tps.toFixed(2)} | ${(s.tps / p.tps).toFixed(3)} | ${p.tokens.join(",")} / ${s.tokens.join(",")} |`);
    }
    console.log(`\nondo / llama.cpp with the schema: ${(med["ondo+schema"].tps / med["llama.cpp+schema"].tps).toFixed(2)}×`);
    if (a.json) fs.writeFileSync(a.json, JSON.stringify({ runs, medians: med }, null, 1));
}

// ondoRun runs one ondo generation and returns its stderr (--verbose prints the figures there).
function ondoRun(a, constrained, seed) {
    const argv = ["generate", "--model", a.model, "--prompt", a.prompt, "-n", String(a.tokens), "--threads",
        String(a.threads), "--temperature", "1", "--seed", String(seed), "--verbose"];
    if (constrained) argv.push("--json-schema", a.schema);
    const r = spawnSync(a.ondo, argv, { encoding: "utf8", maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`${a.ondo} ${argv.join(" ")}: ${r.stderr || r.error}`);
    return r.stderr;
}

main().catch((e) => { console.error(e.message); process.exit(1); });
