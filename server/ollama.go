package server

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/quantize"
	"github.com/ondo-ai/ondo/tensor"
	"github.com/ondo-ai/ondo/tokenizer"
	"github.com/ondo-ai/ondo/toolcall"
)

// The Ollama API, with the field names of github.com/ollama/ollama/api:
// NDJSON streaming by default, {"error": "..."} errors.

// ollamaOptions are the options Ollama's "options" object may hold that
// ondo uses. Others (num_keep, typical_p, num_gpu, num_thread, …) are
// accepted and ignored, as Ollama ignores options a runner lacks.
type ollamaOptions struct {
	NumCtx           *int     `json:"num_ctx"`
	NumPredict       *int     `json:"num_predict"`
	Seed             *int64   `json:"seed"`
	Temperature      *float32 `json:"temperature"`
	TopK             *int     `json:"top_k"`
	TopP             *float32 `json:"top_p"`
	MinP             *float32 `json:"min_p"`
	Stop             stopList `json:"stop"`
	RepeatPenalty    *float32 `json:"repeat_penalty"`
	RepeatLastN      *int     `json:"repeat_last_n"`
	PresencePenalty  *float32 `json:"presence_penalty"`
	FrequencyPenalty *float32 `json:"frequency_penalty"`
}

// ollamaCommon are the fields /api/generate and /api/chat share.
type ollamaCommon struct {
	Model       string          `json:"model"`
	Stream      *bool           `json:"stream"`
	Format      json.RawMessage `json:"format"`
	KeepAlive   *keepAlive      `json:"keep_alive"`
	Options     *ollamaOptions  `json:"options"`
	Think       json.RawMessage `json:"think"`
	Truncate    *bool           `json:"truncate"`
	Logprobs    bool            `json:"logprobs"`
	TopLogprobs int             `json:"top_logprobs"`
	// Template replaces the model's chat template for this request. It is
	// a Jinja template like tokenizer.chat_template, not one of Ollama's
	// Go templates.
	Template string `json:"template"`
}

type ollamaGenerateRequest struct {
	ollamaCommon
	Prompt  string   `json:"prompt"`
	Suffix  string   `json:"suffix"`
	System  string   `json:"system"`
	Context []int64  `json:"context"`
	Raw     bool     `json:"raw"`
	Images  []string `json:"images"`
}

type ollamaToolCall struct {
	ID       string `json:"id,omitempty"`
	Function struct {
		Index     int             `json:"index,omitempty"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type ollamaMessage struct {
	Role       string           `json:"role"`
	Content    string           `json:"content"`
	Thinking   string           `json:"thinking,omitempty"`
	Images     []string         `json:"images,omitempty"`
	ToolCalls  []ollamaToolCall `json:"tool_calls,omitempty"`
	ToolName   string           `json:"tool_name,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
}

type ollamaChatRequest struct {
	ollamaCommon
	Messages []ollamaMessage   `json:"messages"`
	Tools    []json.RawMessage `json:"tools"`
}

// stream reports whether the response streams: Ollama's default is yes.
func (c *ollamaCommon) stream() bool { return c.Stream == nil || *c.Stream }

func (c *ollamaCommon) loadOptions() loadOptions {
	var lo loadOptions
	if c.KeepAlive != nil {
		d := c.KeepAlive.d
		lo.keepAlive = &d
	}
	if c.Options != nil && c.Options.NumCtx != nil {
		lo.numCtx = *c.Options.NumCtx
	}
	return lo
}

// check refuses what ondo cannot do yet, with a message that says so,
// rather than answering something else.
func (c *ollamaCommon) check() error {
	if c.TopLogprobs < 0 || c.TopLogprobs > 20 {
		return badRequest("top_logprobs", "top_logprobs %d is outside [0, 20]", c.TopLogprobs)
	}
	if o := c.Options; o != nil {
		if o.NumCtx != nil && *o.NumCtx < 0 {
			return badRequest("options.num_ctx", "num_ctx %d is negative", *o.NumCtx)
		}
		if err := checkStops(o.Stop); err != nil {
			return err
		}
	}
	return nil
}

// request builds the engine request's settings from the options.
func (c *ollamaCommon) request() (engine.Request, error) {
	var req engine.Request
	var sp samplingParams
	if o := c.Options; o != nil {
		sp = samplingParams{
			Temperature: o.Temperature, TopP: o.TopP, MinP: o.MinP, RepeatPenalty: o.RepeatPenalty,
			PresencePenalty: o.PresencePenalty, FrequencyPenalty: o.FrequencyPenalty,
			TopK: o.TopK, RepeatLastN: o.RepeatLastN, Seed: o.Seed,
		}
		if o.NumPredict != nil && *o.NumPredict > 0 {
			req.MaxTokens = *o.NumPredict // -1 and -2: until the end of text or context
		}
		req.Stop = o.Stop
	}
	var err error
	if req.Sampling, err = sp.config(); err != nil {
		return req, err
	}
	req.Truncate = c.Truncate != nil && *c.Truncate
	if c.Logprobs || c.TopLogprobs > 0 {
		req.Logprobs = c.TopLogprobs
		req.ChosenLogprob = true
	}
	return req, nil
}

// zeroPredict reports whether num_predict is 0: evaluate nothing.
func (c *ollamaCommon) zeroPredict() bool {
	return c.Options != nil && c.Options.NumPredict != nil && *c.Options.NumPredict == 0
}

type ollamaTopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes,omitempty"`
}

type ollamaLogprob struct {
	ollamaTopLogprob
	TopLogprobs []ollamaTopLogprob `json:"top_logprobs,omitempty"`
}

func (m *runner) ollamaLogprob(ev engine.Event) ollamaLogprob {
	t := m.tokenText(ev.Token)
	lp := ollamaLogprob{ollamaTopLogprob: ollamaTopLogprob{Token: t, Logprob: float64(ev.Logprob), Bytes: byteInts(t)}}
	for _, c := range ev.Top {
		lp.TopLogprobs = append(lp.TopLogprobs, ollamaTopLogprob{Token: c.Text, Logprob: float64(c.Logprob), Bytes: byteInts(c.Text)})
	}
	return lp
}

// ollamaMetrics are the timings of a final message, in nanoseconds.
type ollamaMetrics struct {
	TotalDuration      time.Duration `json:"total_duration,omitempty"`
	LoadDuration       time.Duration `json:"load_duration,omitempty"`
	PromptEvalCount    int           `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration time.Duration `json:"prompt_eval_duration,omitempty"`
	EvalCount          int           `json:"eval_count,omitempty"`
	EvalDuration       time.Duration `json:"eval_duration,omitempty"`
}

func metricsOf(res *engine.Result, start time.Time, load time.Duration) ollamaMetrics {
	m := ollamaMetrics{TotalDuration: time.Since(start), LoadDuration: load}
	if res != nil {
		m.PromptEvalCount = res.PromptTokens
		m.PromptEvalDuration = res.PromptDuration
		m.EvalCount = res.CompletionTokens
		m.EvalDuration = res.GenDuration
	}
	return m
}

type ollamaGenerateResponse struct {
	Model      string          `json:"model"`
	CreatedAt  time.Time       `json:"created_at"`
	Response   string          `json:"response"`
	Thinking   string          `json:"thinking,omitempty"`
	Done       bool            `json:"done"`
	DoneReason string          `json:"done_reason,omitempty"`
	Context    []int32         `json:"context,omitempty"`
	Logprobs   []ollamaLogprob `json:"logprobs,omitempty"`
	ollamaMetrics
}

type ollamaChatResponse struct {
	Model      string          `json:"model"`
	CreatedAt  time.Time       `json:"created_at"`
	Message    ollamaMessage   `json:"message"`
	Done       bool            `json:"done"`
	DoneReason string          `json:"done_reason,omitempty"`
	Logprobs   []ollamaLogprob `json:"logprobs,omitempty"`
	ollamaMetrics
}

// loadOnly answers a generate or chat request without a prompt: Ollama's
// way to load a model (or, with keep_alive 0, unload it).
func (s *Server) loadOnly(w http.ResponseWriter, r *http.Request, c *ollamaCommon, chatResp bool) error {
	reason := "load"
	if c.KeepAlive != nil && c.KeepAlive.d == 0 {
		if err := s.models.unloadNow(c.Model); err != nil {
			return err
		}
		reason = "unload"
	} else {
		m, err := s.acquireFor(r, c.Model, c.loadOptions())
		if err != nil {
			return err
		}
		s.models.release(m)
	}
	now := time.Now().UTC()
	if chatResp {
		writeJSON(w, http.StatusOK, ollamaChatResponse{Model: c.Model, CreatedAt: now, Message: ollamaMessage{Role: "assistant"}, Done: true, DoneReason: reason})
	} else {
		writeJSON(w, http.StatusOK, ollamaGenerateResponse{Model: c.Model, CreatedAt: now, Done: true, DoneReason: reason})
	}
	return nil
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	var req ollamaGenerateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Model == "" {
		return badRequest("model", "the \"model\" field is required")
	}
	if err := req.check(); err != nil {
		return err
	}
	if len(req.Images) > 0 {
		return badRequest("images", "images are not supported: ondo runs text models only")
	}
	if req.Suffix != "" {
		return badRequest("suffix", "suffix (fill-in-the-middle) is not supported")
	}
	if req.Prompt == "" && len(req.Context) == 0 {
		return s.loadOnly(w, r, &req.ollamaCommon, false)
	}
	var tmpl *chat.Template
	if req.Template != "" && !req.Raw {
		var err error
		if tmpl, err = parseTemplate(req.Template); err != nil {
			return err
		}
	}
	ereq, err := req.request()
	if err != nil {
		return err
	}
	con, err := s.ollamaConstraint(req.Format)
	if err != nil {
		return err
	}
	m, err := s.acquireFor(r, req.Model, req.loadOptions())
	if err != nil {
		return err
	}
	defer s.models.release(m)
	loadDur := time.Since(start)
	think, err := parseOllamaThink(req.Think)
	if err != nil {
		return err
	}
	if req.Raw && think.set && think.on {
		return badRequest("think", "think needs the chat template: it cannot be used with raw")
	}
	var parser *toolcall.Parser // splits reasoning off, unless raw

	var prompt []int32
	for i, id := range req.Context {
		if id < 0 || id >= int64(m.tok.VocabSize()) {
			return badRequest("context", "context token %d at index %d is not a token id of model %q", id, i, req.Model)
		}
		prompt = append(prompt, int32(id))
	}
	if req.Raw {
		if len(prompt) > 0 {
			prompt = m.tok.AppendEncode(prompt, req.Prompt, tokenizer.EncodeOptions{ParseSpecial: true})
		} else {
			prompt = m.encodePrompt(req.Prompt)
		}
	} else {
		var msgs []chat.Message
		if req.System != "" {
			msgs = append(msgs, chat.Message{Role: "system", Content: req.System})
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: req.Prompt})
		plan, err := m.planChat(tmpl, msgs, nil, nil, think, nil)
		if err != nil {
			return err
		}
		if con, err = s.chatConstraint(m, plan, con); err != nil {
			return err
		}
		ereq.Special = plan.special()
		parser = plan.newParser()
		text := plan.prompt
		if len(prompt) > 0 {
			// The conversation so far is in context; the new turn
			// follows it without a second BOS.
			text = strings.TrimPrefix(text, m.bosText())
			prompt = m.tok.AppendEncode(prompt, text, tokenizer.EncodeOptions{ParseSpecial: true})
		} else {
			prompt = m.encodePrompt(text)
		}
	}
	ereq.Prompt = prompt
	if err := con.apply(m, &ereq); err != nil {
		return err
	}
	// split is the parsed events of a piece of output: the response text
	// and the thinking.
	split := func(evs []toolcall.Event) (text, thinking string) {
		for _, e := range evs {
			switch e.Kind {
			case toolcall.Content:
				text += e.Text
			case toolcall.Reasoning:
				thinking += e.Text
			}
		}
		return text, thinking
	}
	parse := func(text string, end bool) (string, string) {
		if parser == nil {
			return text, ""
		}
		evs := parser.Write(text)
		if end {
			evs = append(evs, parser.Close()...)
		}
		return split(evs)
	}

	resp := func() ollamaGenerateResponse {
		return ollamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC()}
	}
	final := func(res *engine.Result, text string, generated []int32, lps []ollamaLogprob) ollamaGenerateResponse {
		out := resp()
		out.Response = text
		out.Done = true
		out.Logprobs = lps
		if res != nil {
			out.DoneReason = res.FinishReason
		}
		out.Context = append(append(make([]int32, 0, len(prompt)+len(generated)), prompt...), generated...)
		out.ollamaMetrics = metricsOf(res, start, loadDur)
		return out
	}
	if req.zeroPredict() {
		writeJSON(w, http.StatusOK, final(&engine.Result{PromptTokens: len(prompt), FinishReason: engine.FinishLength}, "", nil, nil))
		return nil
	}
	var generated []int32
	if !req.stream() {
		var sb, tb strings.Builder
		var lps []ollamaLogprob
		res, err := s.run(r.Context(), m, ereq, func(ev engine.Event) error {
			text, thinking := parse(ev.Text, false)
			sb.WriteString(text)
			tb.WriteString(thinking)
			if ev.Token >= 0 {
				generated = append(generated, ev.Token)
				if ereq.ChosenLogprob {
					lps = append(lps, m.ollamaLogprob(ev))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		text, thinking := parse("", true)
		out := final(res, sb.String()+text, generated, lps)
		out.Thinking = tb.String() + thinking
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	st := newStream(w, false)
	res, err := s.run(r.Context(), m, ereq, func(ev engine.Event) error {
		out := resp()
		out.Response, out.Thinking = parse(ev.Text, false)
		if ev.Token >= 0 {
			generated = append(generated, ev.Token)
			if ereq.ChosenLogprob {
				out.Logprobs = []ollamaLogprob{m.ollamaLogprob(ev)}
			}
		}
		if out.Response == "" && out.Thinking == "" && out.Logprobs == nil {
			return nil
		}
		return st.send(out)
	})
	if err == nil {
		if text, thinking := parse("", true); text != "" || thinking != "" {
			out := resp()
			out.Response, out.Thinking = text, thinking
			err = st.send(out)
		}
	}
	if err != nil {
		if !st.started {
			return err
		}
		if !clientGone(r, err) {
			s.streamError(st, r, err)
		}
		return nil
	}
	st.send(final(res, "", generated, nil))
	return nil
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	var req ollamaChatRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Model == "" {
		return badRequest("model", "the \"model\" field is required")
	}
	if err := req.check(); err != nil {
		return err
	}
	if len(req.Messages) == 0 {
		return s.loadOnly(w, r, &req.ollamaCommon, true)
	}
	msgs := make([]chat.Message, len(req.Messages))
	for i, om := range req.Messages {
		if len(om.Images) > 0 {
			return badRequest("messages", "message %d has images: ondo runs text models only", i)
		}
		msg := chat.Message{Role: om.Role, Content: om.Content, ReasoningContent: om.Thinking, ToolCallID: om.ToolCallID, Name: om.ToolName}
		for _, tc := range om.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, chat.ToolCall{ID: tc.ID, Type: "function",
				Function: chat.ToolCallFunction{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
		}
		msgs[i] = msg
	}
	var tmpl *chat.Template
	if req.Template != "" {
		var err error
		if tmpl, err = parseTemplate(req.Template); err != nil {
			return err
		}
	}
	ereq, err := req.request()
	if err != nil {
		return err
	}
	con, err := s.ollamaConstraint(req.Format)
	if err != nil {
		return err
	}
	m, err := s.acquireFor(r, req.Model, req.loadOptions())
	if err != nil {
		return err
	}
	defer s.models.release(m)
	loadDur := time.Since(start)
	think, err := parseOllamaThink(req.Think)
	if err != nil {
		return err
	}
	plan, err := m.planChat(tmpl, msgs, req.Tools, nil, think, nil)
	if err != nil {
		return err
	}
	if con, err = s.chatConstraint(m, plan, con); err != nil {
		return err
	}
	if err := con.apply(m, &ereq); err != nil {
		return err
	}
	ereq.Prompt = m.encodePrompt(plan.prompt)
	ereq.Special = plan.special()
	parser := plan.newParser()

	resp := func(content string) ollamaChatResponse {
		return ollamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: ollamaMessage{Role: "assistant", Content: content}}
	}
	final := func(res *engine.Result, content string, lps []ollamaLogprob) ollamaChatResponse {
		out := resp(content)
		out.Done = true
		out.Logprobs = lps
		if res != nil {
			out.DoneReason = res.FinishReason
		}
		out.ollamaMetrics = metricsOf(res, start, loadDur)
		return out
	}
	if req.zeroPredict() {
		writeJSON(w, http.StatusOK, final(&engine.Result{PromptTokens: len(ereq.Prompt), FinishReason: engine.FinishLength}, "", nil))
		return nil
	}
	if !req.stream() {
		var evs []toolcall.Event
		var lps []ollamaLogprob
		res, err := s.run(r.Context(), m, ereq, func(ev engine.Event) error {
			evs = append(evs, parser.Write(ev.Text)...)
			if ev.Token >= 0 && ereq.ChosenLogprob {
				lps = append(lps, m.ollamaLogprob(ev))
			}
			return nil
		})
		if err != nil {
			return err
		}
		out := toolcall.Collect(append(evs, parser.Close()...))
		resp := final(res, out.Content, lps)
		resp.Message.Thinking = out.Reasoning
		for i, c := range out.Calls {
			tc, err := ollamaCall(c, i)
			if err != nil {
				return err
			}
			resp.Message.ToolCalls = append(resp.Message.ToolCalls, tc)
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	st := newStream(w, false)
	// Content and thinking stream as they come; a tool call is sent whole
	// once complete, as Ollama does.
	var calls []toolcall.Call
	send := func(evs []toolcall.Event, lps []ollamaLogprob) error {
		for _, e := range evs {
			out := resp("")
			switch e.Kind {
			case toolcall.Content:
				out.Message.Content = e.Text
			case toolcall.Reasoning:
				out.Message.Thinking = e.Text
			case toolcall.CallStart:
				calls = append(calls, toolcall.Call{ID: e.ID, Name: e.Name})
				continue
			case toolcall.CallArgs:
				calls[e.Index].Arguments += e.Text
				continue
			case toolcall.CallEnd:
				tc, err := ollamaCall(calls[e.Index], e.Index)
				if err != nil {
					return err
				}
				out.Message.ToolCalls = []ollamaToolCall{tc}
			}
			out.Logprobs, lps = lps, nil
			if err := st.send(out); err != nil {
				return err
			}
		}
		if lps != nil {
			out := resp("")
			out.Logprobs = lps
			return st.send(out)
		}
		return nil
	}
	res, err := s.run(r.Context(), m, ereq, func(ev engine.Event) error {
		var lps []ollamaLogprob
		if ev.Token >= 0 && ereq.ChosenLogprob {
			lps = []ollamaLogprob{m.ollamaLogprob(ev)}
		}
		return send(parser.Write(ev.Text), lps)
	})
	if err == nil {
		err = send(parser.Close(), nil)
	}
	if err != nil {
		if !st.started {
			return err
		}
		if !clientGone(r, err) {
			s.streamError(st, r, err)
		}
		return nil
	}
	st.send(final(res, "", nil))
	return nil
}

type ollamaEmbedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	KeepAlive  *keepAlive      `json:"keep_alive"`
	Truncate   *bool           `json:"truncate"`
	Dimensions int             `json:"dimensions"`
	Options    *ollamaOptions  `json:"options"`
}

func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	var req ollamaEmbedRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Model == "" {
		return badRequest("model", "the \"model\" field is required")
	}
	var inputs []string
	if len(req.Input) > 0 && string(req.Input) != "null" {
		var err error
		if inputs, err = embedInputs(req.Input); err != nil {
			return err
		}
	}
	if len(inputs) > maxEmbedInputs {
		return badRequest("input", "%d inputs: at most %d per request", len(inputs), maxEmbedInputs)
	}
	if req.Dimensions < 0 {
		return badRequest("dimensions", "dimensions %d is negative", req.Dimensions)
	}
	lo := loadOptions{}
	if req.KeepAlive != nil {
		d := req.KeepAlive.d
		lo.keepAlive = &d
	}
	m, err := s.acquireFor(r, req.Model, lo)
	if err != nil {
		return err
	}
	defer s.models.release(m)
	loadDur := time.Since(start)
	var dims *int
	if req.Dimensions > 0 {
		dims = &req.Dimensions
	}
	vecs := [][]float32{}
	n := 0
	if len(inputs) > 0 {
		// Ollama truncates by default.
		truncate := req.Truncate == nil || *req.Truncate
		if vecs, n, err = s.embed(r, m, inputs, truncate, dims); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model": req.Model, "embeddings": vecs,
		"total_duration": time.Since(start), "load_duration": loadDur, "prompt_eval_count": n,
	})
	return nil
}

// handleEmbeddingsLegacy is Ollama's older /api/embeddings: one prompt, one
// vector, not normalised in Ollama (normalised here, like /api/embed).
func (s *Server) handleEmbeddingsLegacy(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model     string     `json:"model"`
		Prompt    string     `json:"prompt"`
		KeepAlive *keepAlive `json:"keep_alive"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	lo := loadOptions{}
	if req.KeepAlive != nil {
		d := req.KeepAlive.d
		lo.keepAlive = &d
	}
	m, err := s.acquireFor(r, req.Model, lo)
	if err != nil {
		return err
	}
	defer s.models.release(m)
	vec := []float32{}
	if req.Prompt != "" {
		vecs, _, err := s.embed(r, m, []string{req.Prompt}, true, nil)
		if err != nil {
			return err
		}
		vec = vecs[0]
	}
	writeJSON(w, http.StatusOK, map[string]any{"embedding": vec})
	return nil
}

// ollamaDetails is Ollama's ModelDetails.
type ollamaDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// describeFile reads the facts /api/tags, /api/show and /api/ps report
// from a GGUF file's header.
type fileFacts struct {
	details   ollamaDetails
	params    int64
	info      map[string]any // model_info
	tensors   []map[string]any
	template  string
	license   string
	embedOnly bool
	reranker  bool // pooling_type rank: scores query–document pairs
	tools     bool
	thinking  bool
}

// factsCache keeps fileFacts by digest: parsing a header with a large
// vocabulary takes milliseconds, and /api/tags lists every model.
var (
	factsMu    sync.Mutex
	factsCache = map[string]*fileFacts{}
)

func describe(e ModelEntry) (*fileFacts, error) {
	factsMu.Lock()
	f, ok := factsCache[e.Digest]
	factsMu.Unlock()
	if ok {
		return f, nil
	}
	g, err := gguf.Open(e.Path)
	if err != nil {
		return nil, fmt.Errorf("reading model %q: %w", e.Name, err)
	}
	defer g.Close()
	f = factsOf(g)
	factsMu.Lock()
	if len(factsCache) > 1024 {
		clear(factsCache)
	}
	factsCache[e.Digest] = f
	factsMu.Unlock()
	return f, nil
}

func factsOf(g *gguf.File) *fileFacts {
	f := &fileFacts{info: map[string]any{}}
	arch, _ := g.Architecture()
	counts := map[tensor.Type]int64{}
	for i := range g.Tensors {
		t := &g.Tensors[i]
		f.params += t.Elements()
		counts[t.Type] += t.Size
		f.tensors = append(f.tensors, map[string]any{"name": t.Name, "type": t.Type.String(), "shape": t.Shape})
	}
	quant := ""
	if ft, err := g.Int("general.file_type"); err == nil {
		quant = quantize.FileType(ft).String()
	} else {
		var best int64 = -1
		for t, n := range counts {
			if n > best || n == best && t.String() < quant {
				best, quant = n, t.String()
			}
		}
	}
	f.details = ollamaDetails{Format: "gguf", Family: arch, Families: []string{arch}, ParameterSize: humanCount(f.params), QuantizationLevel: quant}
	for _, kv := range g.KV {
		switch v := kv.Value.(type) {
		case gguf.Array:
			// Vocabularies run to 100k entries: Ollama leaves them out
			// unless verbose, and so do we.
			f.info[kv.Key] = nil
		default:
			f.info[kv.Key] = v
		}
	}
	f.info["general.parameter_count"] = f.params
	src, _ := g.String("tokenizer.chat_template")
	tokens, _ := g.Strings("tokenizer.ggml.tokens")
	if t, err := chat.ForModel(src, tokens); err == nil {
		f.template = t.Source()
		f.tools, f.thinking = toolcall.Supports(t)
	} else {
		f.template = src
	}
	f.license, _ = g.String("general.license")
	f.embedOnly = model.EmbeddingOnly(arch)
	pool, _ := g.Int(arch + ".pooling_type")
	f.reranker = pool == int64(model.PoolingRank)
	return f
}

// humanCount writes a parameter count as Ollama does ("8.0B", "135M").
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", math.Round(float64(n)/1e6))
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", math.Round(float64(n)/1e3))
	}
	return fmt.Sprint(n)
}

type ollamaListModel struct {
	Name       string        `json:"name"`
	Model      string        `json:"model"`
	ModifiedAt time.Time     `json:"modified_at"`
	Size       int64         `json:"size"`
	Digest     string        `json:"digest"`
	Details    ollamaDetails `json:"details"`
}

func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) error {
	ents, err := s.cfg.Resolver.List()
	if err != nil {
		return err
	}
	models := make([]ollamaListModel, 0, len(ents))
	for _, e := range ents {
		lm := ollamaListModel{Name: e.Name, Model: e.Name, ModifiedAt: e.ModifiedAt, Size: e.Size, Digest: e.Digest}
		if f, err := describe(e); err == nil {
			lm.Details = f.details
		} else {
			s.log.Warn("unreadable model in listing", "model", e.Name, "err", err)
			lm.Details = ollamaDetails{Format: "gguf"}
		}
		models = append(models, lm)
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
	return nil
}

func (s *Server) handleShow(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model   string `json:"model"`
		Name    string `json:"name"` // older clients
		Verbose bool   `json:"verbose"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	if name == "" {
		return badRequest("model", "the \"model\" field is required")
	}
	path, err := s.cfg.Resolver.Resolve(name)
	if err != nil {
		return notFound(name, err)
	}
	e, err := statEntry(name, path)
	if err != nil {
		return err
	}
	f, err := describe(e)
	if err != nil {
		return err
	}
	info := f.info
	if req.Verbose {
		g, err := gguf.Open(path)
		if err != nil {
			return err
		}
		info = map[string]any{}
		for _, kv := range g.KV {
			v := kv.Value
			if a, ok := v.(gguf.Array); ok {
				v = a.Values
			}
			info[kv.Key] = v
		}
		info["general.parameter_count"] = f.params
		g.Close()
	}
	caps := []string{"completion"}
	if f.reranker {
		caps = []string{"rerank"} // llama-server's /v1/rerank; no generation, no embeddings
	} else if f.embedOnly {
		caps = []string{"embedding"}
	} else {
		if f.tools {
			caps = append(caps, "tools")
		}
		if f.thinking {
			caps = append(caps, "thinking")
		}
	}
	modelfile := fmt.Sprintf("# Modelfile generated by ondo\nFROM %s\nTEMPLATE \"\"\"%s\"\"\"\n", path, f.template)
	resp := map[string]any{
		"modelfile":    modelfile,
		"parameters":   "",
		"template":     f.template,
		"details":      f.details,
		"model_info":   info,
		"capabilities": caps,
		"modified_at":  e.ModifiedAt,
	}
	if f.license != "" {
		resp["license"] = f.license
	}
	if req.Verbose {
		resp["tensors"] = f.tensors
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// statEntry describes the model file at path, called name.
func statEntry(name, path string) (ModelEntry, error) {
	st, err := os.Stat(path)
	if err != nil {
		return ModelEntry{}, notFound(name, fmt.Errorf("%w: %v", ErrModelNotFound, err))
	}
	return entryFor(name, path, st), nil
}

func (s *Server) handlePs(w http.ResponseWriter, r *http.Request) error {
	type psModel struct {
		Name          string        `json:"name"`
		Model         string        `json:"model"`
		Size          int64         `json:"size"`
		Digest        string        `json:"digest"`
		Details       ollamaDetails `json:"details"`
		ExpiresAt     time.Time     `json:"expires_at"`
		SizeVRAM      int64         `json:"size_vram"`
		ContextLength int           `json:"context_length"`
	}
	loaded := s.models.loaded()
	models := make([]psModel, 0, len(loaded))
	for _, l := range loaded {
		pm := psModel{Name: l.r.name, Model: l.r.name, Size: l.size, Digest: l.r.entry.Digest,
			ExpiresAt: l.expires, ContextLength: l.r.context}
		if f, err := describe(l.r.entry); err == nil {
			pm.Details = f.details
		}
		models = append(models, pm)
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
	return nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model string `json:"model"`
		Name  string `json:"name"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	if name == "" {
		return badRequest("model", "the \"model\" field is required")
	}
	if err := s.models.delete(name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"version": s.cfg.Version})
	return nil
}
