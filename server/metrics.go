package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ondo-ai/ondo/engine"
)

// metrics holds the server's Prometheus metrics, in a registry of its own
// so that several servers (tests) can live in one process.
type metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec   // route, code
	requestDuration *prometheus.HistogramVec // route
	promptTokens    *prometheus.CounterVec   // model
	cachedTokens    *prometheus.CounterVec   // model
	genTokens       *prometheus.CounterVec   // model
	ttft            *prometheus.HistogramVec // model
	tokenLatency    *prometheus.HistogramVec // model
	queueWait       *prometheus.HistogramVec // model
	step            *prometheus.HistogramVec // model
	grammar         *prometheus.HistogramVec // model
	loads           *prometheus.CounterVec   // model, result
	evictions       *prometheus.CounterVec   // model, reason
}

// grammarBuckets span a token checked against a cached state (a
// microsecond) to a large vocabulary's mask built from scratch (tens of
// milliseconds) and a pathological grammar (a second).
var grammarBuckets = prometheus.ExponentialBucketsRange(1e-6, 1, 19)

// latencyBuckets span a fast token (0.5 ms) to a slow first token (a minute).
var latencyBuckets = prometheus.ExponentialBucketsRange(0.0005, 60, 20)

func newMetrics(models func() []modelStats) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ondo_http_requests_total", Help: "HTTP requests answered, by route and status code.",
	}, []string{"route", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ondo_http_request_duration_seconds", Help: "Time from a request's arrival to the end of its response (streams included), by route.",
		Buckets: latencyBuckets,
	}, []string{"route"})
	m.promptTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ondo_prompt_tokens_total", Help: "Prompt tokens of finished generation requests.",
	}, []string{"model"})
	m.cachedTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ondo_prompt_cached_tokens_total", Help: "Prompt tokens reused from a slot's cache instead of evaluated.",
	}, []string{"model"})
	m.genTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ondo_generated_tokens_total", Help: "Tokens generated (completion tokens).",
	}, []string{"model"})
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ondo_time_to_first_token_seconds", Help: "Time from a request's submission to its first generated token.",
		Buckets: latencyBuckets,
	}, []string{"model"})
	m.tokenLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ondo_token_latency_seconds", Help: "Time between two generated tokens of one sequence.",
		Buckets: latencyBuckets,
	}, []string{"model"})
	m.queueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ondo_queue_wait_seconds", Help: "Time a request waited for a free slot.",
		Buckets: latencyBuckets,
	}, []string{"model"})
	m.step = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ondo_forward_step_seconds", Help: "Duration of one batched forward step, all sequences together.",
		Buckets: latencyBuckets,
	}, []string{"model"})
	m.grammar = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ondo_grammar_seconds", Help: "Time per constrained token spent in the grammar (forcing, checking, masks), for requests with structured output.",
		Buckets: grammarBuckets,
	}, []string{"model"})
	m.loads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ondo_model_loads_total", Help: "Model loads, by result (ok, error, too_large).",
	}, []string{"model", "result"})
	m.evictions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ondo_model_unloads_total", Help: "Model unloads, by reason (keep_alive, lru, memory, delete, shutdown).",
	}, []string{"model", "reason"})
	m.reg.MustRegister(m.requests, m.requestDuration, m.promptTokens, m.cachedTokens, m.genTokens,
		m.ttft, m.tokenLatency, m.queueWait, m.step, m.grammar, m.loads, m.evictions,
		&stateCollector{models: models},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observer returns the engine's OnObserve hook for a model's histograms.
func (m *metrics) observer(model string) func(kind string, d time.Duration) {
	ttft := m.ttft.WithLabelValues(model)
	tok := m.tokenLatency.WithLabelValues(model)
	queue := m.queueWait.WithLabelValues(model)
	step := m.step.WithLabelValues(model)
	gram := m.grammar.WithLabelValues(model)
	return func(kind string, d time.Duration) {
		switch kind {
		case engine.ObserveTimeToFirst:
			ttft.Observe(d.Seconds())
		case engine.ObserveToken:
			tok.Observe(d.Seconds())
		case engine.ObserveQueue:
			queue.Observe(d.Seconds())
		case engine.ObserveStep:
			step.Observe(d.Seconds())
		case engine.ObserveConstraint:
			gram.Observe(d.Seconds())
		}
	}
}

// result counts a finished request's tokens.
func (m *metrics) result(model string, res *engine.Result) {
	if res == nil {
		return
	}
	m.promptTokens.WithLabelValues(model).Add(float64(res.PromptTokens))
	m.cachedTokens.WithLabelValues(model).Add(float64(res.CachedTokens))
	m.genTokens.WithLabelValues(model).Add(float64(res.CompletionTokens))
}

// modelStats is one loaded model's state at scrape time.
type modelStats struct {
	name   string
	memory int64
	stats  engine.Stats
}

// stateCollector reports the gauges read from the loaded models at scrape
// time: nothing has to keep them up to date.
type stateCollector struct {
	models func() []modelStats
}

var (
	descLoaded  = prometheus.NewDesc("ondo_loaded_models", "Models loaded.", nil, nil)
	descQueue   = prometheus.NewDesc("ondo_queue_depth", "Requests waiting for a slot.", []string{"model"}, nil)
	descActive  = prometheus.NewDesc("ondo_active_sequences", "Sequences holding a slot.", []string{"model"}, nil)
	descSlots   = prometheus.NewDesc("ondo_slots", "Sequences a model can run at once.", []string{"model"}, nil)
	descKVUsed  = prometheus.NewDesc("ondo_kv_cache_used_cells", "Key/value cache positions filled, idle slots' reusable prefixes included.", []string{"model"}, nil)
	descKVTotal = prometheus.NewDesc("ondo_kv_cache_total_cells", "Key/value cache positions, all slots together.", []string{"model"}, nil)
	descMemory  = prometheus.NewDesc("ondo_model_memory_bytes", "Memory a loaded model is charged with: file size plus caches and scratch.", []string{"model"}, nil)
)

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLoaded, descQueue, descActive, descSlots, descKVUsed, descKVTotal, descMemory} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ms := c.models()
	ch <- prometheus.MustNewConstMetric(descLoaded, prometheus.GaugeValue, float64(len(ms)))
	for _, m := range ms {
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, m.name)
		}
		g(descQueue, float64(m.stats.Queued))
		g(descActive, float64(m.stats.Active))
		g(descSlots, float64(m.stats.Slots))
		g(descKVUsed, float64(m.stats.KVCellsUsed))
		g(descKVTotal, float64(m.stats.KVCellsTotal))
		g(descMemory, float64(m.memory))
	}
}
