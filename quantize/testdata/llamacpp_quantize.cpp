// llamacpp_quantize runs llama.cpp's own quantizer the way the llama-quantize
// tool does, from the prebuilt libraries that npm node-llama-cpp ships in
// bench/peer: it reads an importance matrix with llama.cpp's reader
// (common_imatrix_load in libllama-common, both the GGUF form and the legacy
// .dat form), turns it into per-tensor weights as llama-quantize does (sums
// divided by counts, per expert), and calls llama_model_quantize with the
// same metadata overrides llama-quantize adds (quantize.imatrix.*).
//
//   llamacpp_quantize LIBDIR < jobs
//   llamacpp_quantize LIBDIR plan < script
//
// Each job line names the input, the output, llama.cpp's file type number
// and the importance matrix file (see main). One process runs them all, so
// that llama.cpp's one-time set-up of the IQ quantizers' tables is paid
// once per type. The plan mode asks llama.cpp's mix rules alone for the
// types of a described model's tensors (see plan). The structures below are declared
// by hand, so no llama.cpp header is needed; they must match the library's
// (llama.cpp release v0.4.0 of node-llama-cpp 3.21.1). The Go test
// quantize/llamacpp_test.go compiles this file with g++; Go ignores
// testdata directories, so it is not part of any Go build.
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

// common/imatrix-loader.h
struct common_imatrix_entry {
    std::vector<float> sums;
    std::vector<int64_t> counts;
};
struct common_imatrix {
    std::map<std::string, common_imatrix_entry> entries;
    std::vector<std::string> datasets;
    int32_t chunk_count = 0;
    int32_t chunk_size = 0;
    bool is_legacy = false;
    bool has_metadata = false;
};
// Declared, never defined: only its type is used, for the library's symbol.
bool common_imatrix_load(const std::string &fname, common_imatrix &imatrix);

// include/llama.h
struct imatrix_data {
    const char *name;
    const float *data;
    size_t size;
};
enum { KV_INT = 0, KV_FLOAT = 1, KV_BOOL = 2, KV_STR = 3 };
struct kv_override {
    int tag;
    char key[128];
    union {
        int64_t val_i64;
        double val_f64;
        bool val_bool;
        char val_str[128];
    };
};
struct quantize_params {
    int32_t nthread;
    int32_t ftype;
    int32_t output_tensor_type;
    int32_t token_embedding_type;
    bool allow_requantize;
    bool quantize_output_tensor;
    bool only_copy;
    bool pure;
    bool keep_split;
    bool dry_run;
    const imatrix_data *imatrix;
    const kv_override *kv_overrides;
    const void *tt_overrides;
    const int32_t *prune_layers;
    size_t max_buf_size;
};

// src/llama-ext.h and ggml.h, for the plan mode.
struct quant_model_desc {
    const char *architecture;
    uint32_t n_embd, n_ff, n_layer, n_head, n_head_kv, n_expert, n_embd_head_k, n_embd_head_v;
};
struct ggml_init_params {
    size_t mem_size;
    void *mem_buffer;
    bool no_alloc;
};

static void *sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "llamacpp_quantize: missing symbol %s: %s\n", name, dlerror());
        exit(2);
    }
    return p;
}

// The library's log lines that matter during one job: errors
// (GGML_LOG_LEVEL_ERROR = 4), and the notes about tensors without an
// importance matrix entry or with one of the wrong size.
static std::string job_log;
static bool verbose;
static void collect(int level, const char *text, void *) {
    if (verbose) {
        fputs(text, stderr);
    }
    if (level == 4 || strstr(text, "did not find weights") || strstr(text, "imatrix size")) {
        job_log += text;
    }
}

static bool (*load)(const std::string &, common_imatrix &);
static uint32_t (*quantize)(const char *, const char *, const quantize_params *);
static quantize_params (*defaults)();

// run quantizes in to out as file type ftype, under the importance matrix
// file imat unless it is empty, as llama-quantize does.
static bool run(const std::string &in, const std::string &out, int ftype, const std::string &imat) {
    quantize_params params = defaults();
    params.ftype = ftype;
    params.nthread = 4;

    // What llama-quantize's load_imatrix does with the file.
    std::unordered_map<std::string, std::vector<float>> weights;
    std::vector<imatrix_data> table;
    std::vector<kv_override> kvs;
    if (!imat.empty()) {
        common_imatrix m;
        if (!load(imat, m)) {
            job_log += "failed to load imatrix from '" + imat + "'\n";
            return false;
        }
        if (!m.is_legacy && !m.has_metadata) {
            job_log += "missing imatrix metadata in file " + imat + "\n";
            return false;
        }
        for (const auto &[name, e] : m.entries) {
            std::vector<float> &w = weights[name];
            w.resize(e.sums.size());
            if (!m.is_legacy) {
                const int64_t n = e.counts.size();
                const int64_t per = (int64_t)e.sums.size() / n;
                for (int64_t j = 0; j < n; j++) {
                    const float c = (float)e.counts[j];
                    for (int64_t i = 0; i < per; i++) {
                        w[j * per + i] = c > 0.0f ? e.sums[j * per + i] / c : 1;
                    }
                }
            } else {
                const int64_t ncall = e.counts.empty() ? 0 : e.counts[0];
                for (size_t i = 0; i < e.sums.size(); i++) {
                    w[i] = ncall > 0 ? e.sums[i] / ncall : e.sums[i];
                }
            }
        }
        for (const auto &[name, w] : weights) {
            table.push_back({name.c_str(), w.data(), w.size()});
        }
        table.push_back({nullptr, nullptr, 0});
        params.imatrix = table.data();

        auto str = [&](const char *key, const std::string &v) {
            kv_override o{};
            o.tag = KV_STR;
            strcpy(o.key, key);
            strncpy(o.val_str, v.c_str(), 127);
            o.val_str[127] = 0;
            kvs.push_back(o);
        };
        auto num = [&](const char *key, int64_t v) {
            kv_override o{};
            o.tag = KV_INT;
            strcpy(o.key, key);
            o.val_i64 = v;
            kvs.push_back(o);
        };
        str("quantize.imatrix.file", imat);
        if (!m.datasets.empty()) {
            str("quantize.imatrix.dataset", m.datasets[0]);
        }
        num("quantize.imatrix.entries_count", (int64_t)weights.size());
        if (m.chunk_count > 0) {
            num("quantize.imatrix.chunks_count", m.chunk_count);
        }
        kvs.push_back(kv_override{});
        params.kv_overrides = kvs.data();
    }
    return quantize(in.c_str(), out.c_str(), &params) == 0;
}

// plan answers the plan mode's script on standard input: "model ARCH N_EMBD
// N_FF N_LAYER N_HEAD N_HEAD_KV N_EXPERT" starts a model, "tensor NAME NE0
// NE1 NE2" adds a tensor (NE1 = NE2 = 1 for a vector, NE2 = 1 for a
// matrix), and "types FTYPE" prints the type llama.cpp's mix rules give
// each tensor of the model, in the order given, without an importance
// matrix (llama_quant_compute_types).
static int plan(void *llama, void *ggml) {
    auto from_meta = (void *(*)(const quant_model_desc *))sym(llama, "_Z31llama_quant_model_from_metadataPK22llama_quant_model_desc");
    auto model_free = (void (*)(void *))sym(llama, "llama_model_free");
    auto qinit = (void *(*)(const void *, const quantize_params *))sym(llama, "_Z16llama_quant_initPK11llama_modelPK27llama_model_quantize_params");
    auto qfree = (void (*)(void *))sym(llama, "_Z16llama_quant_freeP19quantize_state_impl");
    auto compute = (void (*)(void *, int, void **, int *, size_t))sym(llama, "_Z25llama_quant_compute_typesP19quantize_state_impl11llama_ftypePP11ggml_tensorP9ggml_typem");
    auto ginit = (void *(*)(ggml_init_params))sym(ggml, "ggml_init");
    auto gfree = (void (*)(void *))sym(ggml, "ggml_free");
    auto new3d = (void *(*)(void *, int, int64_t, int64_t, int64_t))sym(ggml, "ggml_new_tensor_3d");
    auto set_name = (void *(*)(void *, const char *))sym(ggml, "ggml_set_name");

    quantize_params params = defaults();
    std::string arch;
    quant_model_desc desc{};
    void *model = nullptr, *qs = nullptr, *ctx = nullptr;
    std::vector<void *> tensors;
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        char word[16], name[1024];
        if (sscanf(line, "%15s", word) != 1) {
            continue;
        }
        if (!strcmp(word, "model")) {
            char a[64];
            if (qs) {
                qfree(qs);
                model_free(model);
                gfree(ctx);
            }
            sscanf(line, "model %63s %u %u %u %u %u %u", a, &desc.n_embd, &desc.n_ff, &desc.n_layer, &desc.n_head, &desc.n_head_kv, &desc.n_expert);
            arch = a;
            desc.architecture = arch.c_str();
            desc.n_embd_head_k = desc.n_embd_head_v = desc.n_embd / desc.n_head;
            model = from_meta(&desc);
            qs = qinit(model, &params);
            ctx = ginit({size_t(1) << 26, nullptr, true});
            tensors.clear();
        } else if (!strcmp(word, "tensor")) {
            long long ne0, ne1, ne2;
            sscanf(line, "tensor %1023s %lld %lld %lld", name, &ne0, &ne1, &ne2);
            void *t = new3d(ctx, 0, ne0, ne1, ne2);
            set_name(t, name);
            tensors.push_back(t);
        } else if (!strcmp(word, "types")) {
            std::vector<int> types(tensors.size());
            compute(qs, atoi(line + 6), tensors.data(), types.data(), tensors.size());
            for (size_t i = 0; i < types.size(); i++) {
                printf(i ? " %d" : "%d", types[i]);
            }
            printf("\n");
            fflush(stdout);
        }
    }
    return 0;
}

// Jobs come on standard input, one a line: IN, OUT, FTYPE and IMATRIX
// (empty for none) separated by tabs. For each, one line goes to standard
// output: "ok", or "failed", then a tab and the log lines collected, each
// newline shown as " | ".
int main(int argc, char **argv) {
    if (argc != 2 && !(argc == 3 && !strcmp(argv[2], "plan"))) {
        fprintf(stderr, "usage: %s LIBDIR [plan] < jobs\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1];
    void *common = dlopen((dir + "/libllama-common.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!common) {
        fprintf(stderr, "llamacpp_quantize: %s\n", dlerror());
        return 2;
    }
    void *llama = dlopen((dir + "/libllama.v0.4.0.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!llama) {
        fprintf(stderr, "llamacpp_quantize: %s\n", dlerror());
        return 2;
    }
    auto log_set = (void (*)(void (*)(int, const char *, void *), void *))sym(llama, "llama_log_set");
    defaults = (quantize_params(*)())sym(llama, "llama_model_quantize_default_params");
    quantize = (uint32_t(*)(const char *, const char *, const quantize_params *))sym(llama, "llama_model_quantize");
    load = (decltype(load))sym(common, "_Z19common_imatrix_loadRKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEER14common_imatrix");
    verbose = getenv("LLAMACPP_QUANTIZE_VERBOSE") != nullptr;
    log_set(collect, nullptr);
    if (argc == 3) {
        void *ggml = dlopen((dir + "/libggml-base.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
        if (!ggml) {
            fprintf(stderr, "llamacpp_quantize: %s\n", dlerror());
            return 2;
        }
        return plan(llama, ggml);
    }

    char line[16384];
    while (fgets(line, sizeof line, stdin)) {
        std::vector<std::string> f;
        std::string cur;
        for (char *p = line; *p && *p != '\n'; p++) {
            if (*p == '\t') {
                f.push_back(cur);
                cur.clear();
            } else {
                cur += *p;
            }
        }
        f.push_back(cur);
        if (f.size() != 4) {
            fprintf(stderr, "llamacpp_quantize: bad job line: %s", line);
            return 2;
        }
        job_log.clear();
        bool ok = run(f[0], f[1], atoi(f[2].c_str()), f[3]);
        std::string msg;
        for (char c : job_log) {
            msg += c == '\n' ? std::string(" | ") : std::string(1, c);
        }
        printf("%s\t%s\n", ok ? "ok" : "failed", msg.c_str());
        fflush(stdout);
    }
    return 0;
}
