// Shared code for the peer scripts: llama.cpp (through node-llama-cpp 3.21.1) as a reference and
// rival for ondo, CPU only and offline.
//
// Every script speaks newline-delimited JSON: one request object per stdin line, one response
// object per stdout line, in order. A failed request answers {"error": "..."} and the process keeps
// going. Each request may carry "op" ("eval", "tokenize", "detokenize", "embed", "rank"); without it the
// script's own default op applies, so eval.mjs alone can serve every kind of request. An "id" field,
// if present, is echoed back. Models are loaded once per distinct path and kept for the process's
// life. stdout carries only protocol lines: all logging goes to stderr.
import readline from "node:readline";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

// Keep stdout clean for the protocol, whatever a library might print.
console.log = console.info = console.debug = console.warn = (...args) => console.error(...args);

let llamaPromise = null;

// getLlama: CPU only, never build or download anything, quiet. maxThreads 0 makes a context's
// `threads` the exact number of threads used (otherwise it is only a hint, and the default cap is
// max(4, cores), which oversubscribes small machines badly).
function llama() {
    llamaPromise ??= getLlama({
        gpu: false,
        build: "never",
        skipDownload: true,
        usePrebuiltBinaries: true,
        progressLogs: false,
        maxThreads: 0,
        logLevel: LlamaLogLevel.error,
        logger: (level, message) => process.stderr.write(`[llama.cpp ${level}] ${message.trimEnd()}\n`)
    });
    return llamaPromise;
}

const models = new Map(); // key "vocab:"/"full:" + path -> Promise<LlamaModel>

// loadModel loads a model once per (path, vocabOnly); weights stay on the CPU (gpuLayers 0).
export function loadModel(modelPath, vocabOnly = false) {
    if (typeof modelPath !== "string" || modelPath === "")
        throw new Error("request needs \"model\": a GGUF path");
    const key = (vocabOnly ? "vocab:" : "full:") + modelPath;
    if (!models.has(key)) {
        const p = llama().then((l) => l.loadModel({ modelPath, gpuLayers: 0, vocabOnly }));
        p.catch(() => models.delete(key)); // let a later request retry
        models.set(key, p);
    }
    return models.get(key);
}

// requireThreads enforces an explicit thread count (llama.cpp's default is wrong on small machines).
export function requireThreads(req) {
    const t = req.threads;
    if (!Number.isInteger(t) || t < 1)
        throw new Error("request needs \"threads\": an integer >= 1");
    return t;
}

// eval: {"model", "tokens": [ids], "greedy": n, "threads": t, "top": k, "batch": b (optional)}
//   -> {"vocab": n, "logprobs": [vocab floats] | "top": [[id, logprob], ...], "greedy": [ids]}
// logprobs are natural-log probabilities of the token after the last given token, over the whole
// vocabulary, indexed by token id (null where the probability underflowed float32 to 0). They are
// log() of node-llama-cpp's float32 softmax of the raw logits: log-softmax to about 1e-7 down to
// -87 (float32 denormals below that lose digits, and below about -103 the probability is 0).
// greedy holds the next `greedy` tokens chosen by pure argmax, each fed back in turn.
async function opEval(req) {
    const model = await loadModel(req.model);
    const tokens = req.tokens;
    if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every(Number.isInteger))
        throw new Error("request needs \"tokens\": a non-empty array of token ids");
    const greedy = req.greedy ?? 0;
    const top = req.top ?? 0;
    const threads = requireThreads(req);

    const context = await model.createContext({
        contextSize: tokens.length + greedy + 16,
        // The whole prompt in one llama_decode (ubatch = batch here) unless "batch" asks for
        // smaller ones (batch 1 takes llama.cpp's one-token path through every matmul).
        batchSize: req.batch ?? tokens.length,
        sequences: 1,
        threads,
        flashAttention: false
    });
    try {
        const sequence = context.getSequence();
        // temperature 0 makes node-llama-cpp's sampler chain just llama.cpp's greedy sampler (no
        // top-k/top-p/min-p, no repeat penalty unless asked): it leaves the logits untouched, so the
        // "probabilities" are softmax over the full raw logit vector, sorted by probability.
        const next = { token: true, probabilities: true, options: { temperature: 0 } };
        const input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, { generateNext: next }] : t));
        const out = await sequence.controlledEvaluate(input);
        const last = out[tokens.length - 1];
        if (last?.next?.probabilities == null)
            throw new Error("no probabilities for the last position");
        const probs = last.next.probabilities; // Map<id, prob>
        const vocab = probs.size;

        const res = { vocab };
        if (top > 0) {
            res.top = [];
            for (const [id, p] of probs) { // sorted, highest first
                if (res.top.length >= top) break;
                res.top.push([id, p > 0 ? Math.log(p) : null]);
            }
        } else {
            const lp = new Array(vocab).fill(null);
            for (const [id, p] of probs)
                lp[id] = p > 0 ? Math.log(p) : null;
            res.logprobs = lp;
        }

        // Greedy continuation: feed each argmax token back and take the next argmax.
        res.greedy = [];
        let tok = last.next.token;
        for (let i = 0; i < greedy; i++) {
            if (tok == null) throw new Error(`greedy step ${i}: no token sampled`);
            res.greedy.push(tok);
            if (i === greedy - 1) break;
            const o = await sequence.controlledEvaluate([[tok, { generateNext: { token: true, options: { temperature: 0 } } }]]);
            tok = o[0]?.next?.token;
        }
        return res;
    } finally {
        await context.dispose();
    }
}

// tokenize: {"model": vocabOnlyPath, "text": "...", "special": false} -> {"ids": [...]}
// llama.cpp's own tokenizer with add_special = false (no BOS/EOS added); "special": true parses
// special-token text such as "<s>" into those tokens.
async function opTokenize(req) {
    const model = await loadModel(req.model, true);
    if (typeof req.text !== "string") throw new Error("request needs \"text\": a string");
    return { ids: model.tokenize(req.text, Boolean(req.special)) };
}

// detokenize: {"model": vocabOnlyPath, "ids": [...], "special": false} -> {"text": "..."}
// (invalid UTF-8 from partial byte tokens comes back as U+FFFD).
async function opDetokenize(req) {
    const model = await loadModel(req.model, true);
    if (!Array.isArray(req.ids)) throw new Error("request needs \"ids\": an array of token ids");
    return { text: model.detokenize(req.ids, Boolean(req.special)) };
}

// embed: {"model", "text": "..." | "tokens": [ids], "threads": t} -> {"embedding": [floats]}
// Through llama.cpp's embedding context: the model's pooling (mean/cls/last...) when it declares
// one, otherwise the last token's hidden state.
async function opEmbed(req) {
    const model = await loadModel(req.model);
    const threads = requireThreads(req);
    const input = Array.isArray(req.tokens) ? req.tokens : req.text;
    if (typeof input !== "string" && !Array.isArray(input))
        throw new Error("request needs \"text\" (string) or \"tokens\" (ids)");
    const n = Array.isArray(input) ? input.length : model.tokenize(input).length + 2;
    const context = await model.createEmbeddingContext({
        contextSize: n + 16,
        batchSize: n + 16,
        threads
    });
    try {
        const e = await context.getEmbeddingFor(input);
        return { embedding: Array.from(e.vector) };
    } finally {
        await context.dispose();
    }
}

// rank: {"model", "tokens": [ids], "threads": t} -> {"score": raw, "probability": p}
// Through llama.cpp's ranking context (rank pooling: the model's classification head): the tokens
// are evaluated as given (already formatted as query and document), as the context's own
// evaluation does; "score" is the head's first output as llama.cpp computes it (what llama-server's
// /v1/rerank reports), "probability" what node-llama-cpp's rank() returns (sigmoid of the score,
// unless the architecture's head is normalised already).
async function opRank(req) {
    const model = await loadModel(req.model);
    const threads = requireThreads(req);
    if (!Array.isArray(req.tokens) || req.tokens.length === 0)
        throw new Error("request needs \"tokens\" (a non-empty array of ids)");
    const n = req.tokens.length;
    const context = await model.createRankingContext({ contextSize: n + 16, batchSize: n + 16, threads });
    try {
        const probability = await context._evaluateRankingForInput(req.tokens);
        const score = context._llamaContext._ctx.getEmbedding(n, 1)[0];
        return { score, probability };
    } finally {
        await context.dispose();
    }
}

const ops = { eval: opEval, tokenize: opTokenize, detokenize: opDetokenize, embed: opEmbed, rank: opRank };

// serve runs the NDJSON loop; requests are handled one at a time, in order.
export async function serve(defaultOp) {
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of rl) {
        if (line.trim() === "") continue;
        let res;
        let id;
        try {
            const req = JSON.parse(line);
            id = req.id;
            const op = ops[req.op ?? defaultOp];
            if (op == null) throw new Error(`unknown op ${JSON.stringify(req.op)}`);
            res = await op(req);
        } catch (err) {
            res = { error: String(err?.stack ?? err) };
        }
        if (id !== undefined) res.id = id;
        await write(JSON.stringify(res) + "\n");
    }
    // stdin closed: release models and exit (the addon can keep the event loop alive).
    for (const p of models.values()) {
        try { await (await p).dispose(); } catch { /* already reported */ }
    }
    process.exit(0);
}

// write resolves once the line has been handed to the OS. Waiting matters: a response larger
// than the pipe buffer (64 KiB) is written asynchronously, and process.exit would cut it short.
function write(text) {
    return new Promise((resolve, reject) => {
        process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
    });
}
