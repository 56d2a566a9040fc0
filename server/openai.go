package server

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/tokenizer"
	"github.com/ondo-ai/ondo/toolcall"
)

// The OpenAI API: /v1/chat/completions, /v1/completions, /v1/embeddings
// and /v1/models, with OpenAI's field names, streaming (server-sent events
// ending with "data: [DONE]") and error shape.

// oaiSampling are the sampling fields both completion endpoints take.
// TopK, MinP and RepeatPenalty are llama.cpp's extensions.
type oaiSampling struct {
	Temperature      *float32           `json:"temperature"`
	TopP             *float32           `json:"top_p"`
	Seed             *int64             `json:"seed"`
	PresencePenalty  *float32           `json:"presence_penalty"`
	FrequencyPenalty *float32           `json:"frequency_penalty"`
	LogitBias        map[string]float32 `json:"logit_bias"`
	TopK             *int               `json:"top_k"`
	MinP             *float32           `json:"min_p"`
	RepeatPenalty    *float32           `json:"repeat_penalty"`
	Stop             stopList           `json:"stop"`
	N                *int               `json:"n"`
	MaxTokens        *int               `json:"max_tokens"`
	StreamOptions    *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type oaiChatRequest struct {
	Model               string            `json:"model"`
	Messages            []chat.Message    `json:"messages"`
	Stream              bool              `json:"stream"`
	MaxCompletionTokens *int              `json:"max_completion_tokens"`
	Logprobs            *bool             `json:"logprobs"`
	TopLogprobs         *int              `json:"top_logprobs"`
	Tools               []json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage   `json:"tool_choice"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls"`
	// ReasoningEffort is passed to the template as reasoning_effort
	// (gpt-oss reads it).
	ReasoningEffort string `json:"reasoning_effort"`
	// ChatTemplateKwargs are extra template variables (llama.cpp's and
	// vLLM's extension), such as enable_thinking.
	ChatTemplateKwargs map[string]any `json:"chat_template_kwargs"`
	oaiSampling
	oaiConstraints
}

type oaiCompletionRequest struct {
	Model    string          `json:"model"`
	Prompt   json.RawMessage `json:"prompt"`
	Stream   bool            `json:"stream"`
	Logprobs *int            `json:"logprobs"`
	Echo     bool            `json:"echo"`
	Suffix   string          `json:"suffix"`
	BestOf   *int            `json:"best_of"`
	oaiSampling
	oaiConstraints
}

// request validates the shared fields and builds the engine request's
// settings, all but the logit bias, which needs the model (see
// runner.logitBias). maxTokens is max_completion_tokens when given.
func (p *oaiSampling) request(maxTokens *int) (engine.Request, error) {
	var req engine.Request
	if p.N != nil && *p.N != 1 {
		return req, badRequest("n", "n = %d: only one choice per request is supported (n must be 1)", *p.N)
	}
	if maxTokens == nil {
		maxTokens = p.MaxTokens
	}
	if maxTokens != nil {
		if *maxTokens < 1 {
			return req, badRequest("max_tokens", "max_tokens %d is below the minimum of 1", *maxTokens)
		}
		req.MaxTokens = *maxTokens
	}
	if t := p.Temperature; t != nil && (*t < 0 || *t > 2) {
		return req, badRequest("temperature", "temperature %g is outside [0, 2]", *t)
	}
	if t := p.TopP; t != nil && (*t < 0 || *t > 1) {
		return req, badRequest("top_p", "top_p %g is outside [0, 1]", *t)
	}
	for name, v := range map[string]*float32{"presence_penalty": p.PresencePenalty, "frequency_penalty": p.FrequencyPenalty} {
		if v != nil && (*v < -2 || *v > 2) {
			return req, badRequest(name, "%s %g is outside [-2, 2]", name, *v)
		}
	}
	sp := samplingParams{
		Temperature: p.Temperature, TopP: p.TopP, MinP: p.MinP, RepeatPenalty: p.RepeatPenalty,
		PresencePenalty: p.PresencePenalty, FrequencyPenalty: p.FrequencyPenalty,
		TopK: p.TopK, Seed: p.Seed,
	}
	var err error
	if req.Sampling, err = sp.config(); err != nil {
		return req, err
	}
	if err := checkStops(p.Stop); err != nil {
		return req, err
	}
	req.Stop = p.Stop
	return req, nil
}

// logitBias converts OpenAI's logit_bias (token id strings to a bias in
// [-100, 100]); -100 bans the token outright.
func (r *runner) logitBias(m map[string]float32) (map[int32]float32, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[int32]float32, len(m))
	for k, v := range m {
		id, err := strconv.ParseInt(k, 10, 32)
		if err != nil || id < 0 || int(id) >= r.tok.VocabSize() {
			return nil, badRequest("logit_bias", "logit_bias key %q is not a token id of model %q (0 to %d)", k, r.name, r.tok.VocabSize()-1)
		}
		if v < -100 || v > 100 || math.IsNaN(float64(v)) {
			return nil, badRequest("logit_bias", "logit_bias value %g for token %d is outside [-100, 100]", v, id)
		}
		if v <= -100 {
			out[int32(id)] = float32(math.Inf(-1))
		} else {
			out[int32(id)] = v
		}
	}
	return out, nil
}

type oaiUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
}

func usageOf(res *engine.Result) *oaiUsage {
	if res == nil {
		return &oaiUsage{}
	}
	u := &oaiUsage{PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens, TotalTokens: res.PromptTokens + res.CompletionTokens}
	u.PromptTokensDetails = &struct {
		CachedTokens int `json:"cached_tokens"`
	}{res.CachedTokens}
	return u
}

// oaiTokenLogprob is one token of a chat completion's logprobs.content.
type oaiTokenLogprob struct {
	Token       string          `json:"token"`
	Logprob     float32         `json:"logprob"`
	Bytes       []int           `json:"bytes"`
	TopLogprobs []oaiTopLogprob `json:"top_logprobs"`
}

type oaiTopLogprob struct {
	Token   string  `json:"token"`
	Logprob float32 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type oaiChatLogprobs struct {
	Content []oaiTokenLogprob `json:"content"`
}

func (r *runner) chatLogprob(ev engine.Event, top int) oaiTokenLogprob {
	t := r.tokenText(ev.Token)
	lp := oaiTokenLogprob{Token: t, Logprob: ev.Logprob, Bytes: byteInts(t), TopLogprobs: []oaiTopLogprob{}}
	for i, c := range ev.Top {
		if i >= top {
			break
		}
		lp.TopLogprobs = append(lp.TopLogprobs, oaiTopLogprob{Token: c.Text, Logprob: c.Logprob, Bytes: byteInts(c.Text)})
	}
	return lp
}

type oaiChatMessage struct {
	Role    string
	Content string
	// NoContent writes content as null (a message of tool calls only) or,
	// in a delta, leaves it out.
	NoContent bool
	Reasoning string // reasoning_content, and reasoning as ollama's OpenAI layer names it
	ToolCalls []oaiToolCall
}

// MarshalJSON writes the message with only the fields it has; content is
// always there in a message, null when NoContent.
func (m oaiChatMessage) MarshalJSON() ([]byte, error) {
	o := chat.Object{}
	if m.Role != "" {
		o = append(o, chat.Member{Key: "role", Value: m.Role})
	}
	if !m.NoContent {
		o = append(o, chat.Member{Key: "content", Value: m.Content})
	} else if m.Role != "" {
		o = append(o, chat.Member{Key: "content", Value: nil})
	}
	if m.Reasoning != "" {
		o = append(o, chat.Member{Key: "reasoning_content", Value: m.Reasoning}, chat.Member{Key: "reasoning", Value: m.Reasoning})
	}
	if len(m.ToolCalls) > 0 {
		o = append(o, chat.Member{Key: "tool_calls", Value: m.ToolCalls})
	}
	return o.MarshalJSON()
}

// oaiToolCall is a tool call in a message, or a piece of one in a delta
// (with Index).
type oaiToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaiChatChoice struct {
	Index        int              `json:"index"`
	Message      *oaiChatMessage  `json:"message,omitempty"`
	Delta        *oaiChatMessage  `json:"delta,omitempty"`
	Logprobs     *oaiChatLogprobs `json:"logprobs"`
	FinishReason *string          `json:"finish_reason"`
}

type oaiChatResponse struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []oaiChatChoice `json:"choices"`
	Usage             *oaiUsage       `json:"usage,omitempty"`
}

// streamUsage marks chunks of a stream that asked for usage: every chunk
// then carries "usage": null, and the last one the totals.
type oaiChatChunk struct {
	oaiChatResponse
	Usage *oaiUsage `json:"usage"`
}

func (s *Server) fingerprint() string { return "fp_ondo_" + s.cfg.Version }

// acquireFor loads the model a request names, checking the name first.
func (s *Server) acquireFor(r *http.Request, name string, lo loadOptions) (*runner, error) {
	if name == "" {
		return nil, badRequest("model", "the \"model\" field is required")
	}
	return s.models.acquire(r.Context(), name, lo)
}

func (s *Server) handleChatCompletions(w http.ResponseWriter, r *http.Request) error {
	var req oaiChatRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Messages) == 0 {
		return badRequest("messages", "\"messages\" must hold at least one message")
	}
	top := 0
	if req.TopLogprobs != nil {
		top = *req.TopLogprobs
		if top < 0 || top > 20 {
			return badRequest("top_logprobs", "top_logprobs %d is outside [0, 20]", top)
		}
		if req.Logprobs == nil || !*req.Logprobs {
			return badRequest("top_logprobs", "top_logprobs needs logprobs set to true")
		}
	}
	logprobs := req.Logprobs != nil && *req.Logprobs
	created := time.Now()
	ereq, err := req.request(req.MaxCompletionTokens)
	if err != nil {
		return err
	}
	con, err := s.oaiConstraint(&req.oaiConstraints)
	if err != nil {
		return err
	}
	m, err := s.acquireFor(r, req.Model, loadOptions{})
	if err != nil {
		return err
	}
	defer s.models.release(m)
	if ereq.Sampling.LogitBias, err = m.logitBias(req.LogitBias); err != nil {
		return err
	}
	kwargs := req.ChatTemplateKwargs
	if req.ReasoningEffort != "" {
		kwargs = withKwarg(kwargs, "reasoning_effort", req.ReasoningEffort)
	}
	plan, err := m.planChat(nil, req.Messages, req.Tools, req.ToolChoice, thinkSetting{}, kwargs)
	if err != nil {
		return err
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
		plan.opt.MaxCalls = 1
	}
	if con, err = s.chatConstraint(m, plan, con); err != nil {
		return err
	}
	if err := con.apply(m, &ereq); err != nil {
		return err
	}
	ereq.Prompt = m.encodePrompt(plan.prompt)
	ereq.Special = plan.special()
	if logprobs {
		ereq.Logprobs = top
		ereq.ChosenLogprob = true
	}

	base := oaiChatResponse{ID: newID("chatcmpl-"), Created: created.Unix(), Model: req.Model, SystemFingerprint: s.fingerprint()}
	parser := plan.newParser()
	finishOf := func(res *engine.Result, calls int) *string {
		fr := res.FinishReason
		if calls > 0 && fr == engine.FinishStop {
			fr = "tool_calls"
		}
		return &fr
	}
	if !req.Stream {
		var evs []toolcall.Event
		var lps *oaiChatLogprobs
		if logprobs {
			lps = &oaiChatLogprobs{Content: []oaiTokenLogprob{}}
		}
		res, err := s.run(r.Context(), m, ereq, func(ev engine.Event) error {
			evs = append(evs, parser.Write(ev.Text)...)
			if lps != nil && ev.Token >= 0 {
				lps.Content = append(lps.Content, m.chatLogprob(ev, top))
			}
			return nil
		})
		if err != nil {
			return err
		}
		out := toolcall.Collect(append(evs, parser.Close()...))
		msg := &oaiChatMessage{Role: "assistant", Content: out.Content, Reasoning: out.Reasoning}
		for _, c := range out.Calls {
			tc := oaiToolCall{ID: c.ID, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = c.Name, c.Arguments
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
		msg.NoContent = len(msg.ToolCalls) > 0 && msg.Content == ""
		resp := base
		resp.Object = "chat.completion"
		resp.Choices = []oaiChatChoice{{Message: msg, Logprobs: lps, FinishReason: finishOf(res, len(out.Calls))}}
		resp.Usage = usageOf(res)
		writeJSON(w, http.StatusOK, resp)
		return nil
	}

	st := newStream(w, true)
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunk := func(delta *oaiChatMessage, lps *oaiChatLogprobs, finish *string) any {
		c := base
		c.Object = "chat.completion.chunk"
		c.Choices = []oaiChatChoice{{Delta: delta, Logprobs: lps, FinishReason: finish}}
		if includeUsage {
			return oaiChatChunk{oaiChatResponse: c}
		}
		return c
	}
	first := true
	calls := 0
	// send writes the parsed events as deltas, the token's logprobs with
	// the first (or alone when the text is held back).
	send := func(evs []toolcall.Event, lps *oaiChatLogprobs) error {
		if len(evs) == 0 && (lps != nil || first) {
			evs = []toolcall.Event{{Kind: toolcall.Content}}
		}
		for _, e := range evs {
			d := &oaiChatMessage{}
			switch e.Kind {
			case toolcall.Content:
				d.Content = e.Text
			case toolcall.Reasoning:
				d.Reasoning, d.NoContent = e.Text, true
			case toolcall.CallStart:
				calls++
				tc := oaiToolCall{Index: &e.Index, ID: e.ID, Type: "function"}
				tc.Function.Name = e.Name
				d.ToolCalls, d.NoContent = []oaiToolCall{tc}, true
			case toolcall.CallArgs:
				tc := oaiToolCall{Index: &e.Index}
				tc.Function.Arguments = e.Text
				d.ToolCalls, d.NoContent = []oaiToolCall{tc}, true
			case toolcall.CallEnd:
				continue
			}
			if first {
				d.Role = "assistant"
				first = false
			}
			if err := st.send(chunk(d, lps, nil)); err != nil {
				return err
			}
			lps = nil
		}
		return nil
	}
	res, err := s.run(r.Context(), m, ereq, func(ev engine.Event) error {
		var lps *oaiChatLogprobs
		if logprobs && ev.Token >= 0 {
			lps = &oaiChatLogprobs{Content: []oaiTokenLogprob{m.chatLogprob(ev, top)}}
		}
		return send(parser.Write(ev.Text), lps)
	})
	if err != nil {
		if !st.started {
			return err
		}
		if !clientGone(r, err) {
			s.streamError(st, r, err)
		}
		return nil
	}
	if err := send(parser.Close(), nil); err != nil {
		return nil
	}
	st.send(chunk(&oaiChatMessage{NoContent: true}, nil, finishOf(res, calls)))
	if includeUsage {
		c := base
		c.Object = "chat.completion.chunk"
		c.Choices = []oaiChatChoice{}
		st.send(oaiChatChunk{oaiChatResponse: c, Usage: usageOf(res)})
	}
	st.write([]byte("[DONE]"))
	return nil
}

// withKwarg returns kwargs with k set to v, leaving the caller's map as
// it was.
func withKwarg(kwargs map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(kwargs)+1)
	for kk, vv := range kwargs {
		out[kk] = vv
	}
	out[k] = v
	return out
}

// streamError ends a stream that failed after it started: an error
// message in the API's shape (and "[DONE]" for OpenAI's).
func (s *Server) streamError(st *streamWriter, r *http.Request, err error) {
	ae := asAPIError(err)
	if st.sse {
		st.send(map[string]any{"error": map[string]any{"message": ae.Msg, "type": ae.Type, "code": ae.Code}})
		st.write([]byte("[DONE]"))
		return
	}
	st.send(map[string]string{"error": ae.Msg})
}

type oaiCompletionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float32            `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

type oaiCompletionChoice struct {
	Text         string                 `json:"text"`
	Index        int                    `json:"index"`
	Logprobs     *oaiCompletionLogprobs `json:"logprobs"`
	FinishReason *string                `json:"finish_reason"`
}

type oaiCompletionResponse struct {
	ID                string                `json:"id"`
	Object            string                `json:"object"`
	Created           int64                 `json:"created"`
	Model             string                `json:"model"`
	SystemFingerprint string                `json:"system_fingerprint"`
	Choices           []oaiCompletionChoice `json:"choices"`
	Usage             *oaiUsage             `json:"usage,omitempty"`
}

type oaiCompletionChunk struct {
	oaiCompletionResponse
	Usage *oaiUsage `json:"usage"`
}

// completionPrompt reads /v1/completions' prompt: a string, an array of
// one string, an array of token ids or an array of one such array.
func (m *runner) completionPrompt(raw json.RawMessage) ([]int32, string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return m.encodePrompt(s), s, nil
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		if len(ss) != 1 {
			return nil, "", badRequest("prompt", "prompt holds %d strings: only one prompt per request is supported", len(ss))
		}
		return m.encodePrompt(ss[0]), ss[0], nil
	}
	var ids []int64
	if json.Unmarshal(raw, &ids) == nil {
		return m.checkIDs(ids)
	}
	var idss [][]int64
	if json.Unmarshal(raw, &idss) == nil {
		if len(idss) != 1 {
			return nil, "", badRequest("prompt", "prompt holds %d token arrays: only one prompt per request is supported", len(idss))
		}
		return m.checkIDs(idss[0])
	}
	return nil, "", badRequest("prompt", "invalid value for \"prompt\": expected a string, an array of strings or an array of token ids")
}

func (m *runner) checkIDs(ids []int64) ([]int32, string, error) {
	out := make([]int32, len(ids))
	for i, id := range ids {
		if id < 0 || id >= int64(m.tok.VocabSize()) {
			return nil, "", badRequest("prompt", "prompt token %d at index %d is not a token id of model %q (0 to %d)", id, i, m.name, m.tok.VocabSize()-1)
		}
		out[i] = int32(id)
	}
	text, _ := m.tok.Decode(out, tokenizer.DecodeOptions{Special: true})
	return out, text, nil
}

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) error {
	var req oaiCompletionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Prompt) == 0 || string(req.Prompt) == "null" {
		return badRequest("prompt", "the \"prompt\" field is required")
	}
	if req.Suffix != "" {
		return badRequest("suffix", "suffix (fill-in-the-middle) is not supported")
	}
	if req.BestOf != nil && *req.BestOf != 1 {
		return badRequest("best_of", "best_of must be 1")
	}
	top := -1 // no logprobs
	if req.Logprobs != nil {
		top = *req.Logprobs
		if top < 0 || top > 20 {
			return badRequest("logprobs", "logprobs %d is outside [0, 20]", top)
		}
	}
	created := time.Now()
	ereq, err := req.request(nil)
	if err != nil {
		return err
	}
	con, err := s.oaiConstraint(&req.oaiConstraints)
	if err != nil {
		return err
	}
	m, err := s.acquireFor(r, req.Model, loadOptions{})
	if err != nil {
		return err
	}
	defer s.models.release(m)
	if ereq.Sampling.LogitBias, err = m.logitBias(req.LogitBias); err != nil {
		return err
	}
	if err := con.apply(m, &ereq); err != nil {
		return err
	}
	prompt, promptText, err := m.completionPrompt(req.Prompt)
	if err != nil {
		return err
	}
	ereq.Prompt = prompt
	if top >= 0 {
		ereq.Logprobs = top
		ereq.ChosenLogprob = true
	}
	echo := ""
	if req.Echo {
		echo = promptText
	}

	base := oaiCompletionResponse{ID: newID("cmpl-"), Created: created.Unix(), Model: req.Model, SystemFingerprint: s.fingerprint()}
	offset := len(echo)
	addLogprob := func(lp *oaiCompletionLogprobs, ev engine.Event) {
		t := m.tokenText(ev.Token)
		lp.Tokens = append(lp.Tokens, t)
		lp.TokenLogprobs = append(lp.TokenLogprobs, ev.Logprob)
		alt := map[string]float32{}
		for i, c := range ev.Top {
			if i >= top {
				break
			}
			alt[c.Text] = c.Logprob
		}
		lp.TopLogprobs = append(lp.TopLogprobs, alt)
		lp.TextOffset = append(lp.TextOffset, offset)
		offset += len(t)
	}
	newLogprobs := func() *oaiCompletionLogprobs {
		return &oaiCompletionLogprobs{Tokens: []string{}, TokenLogprobs: []float32{}, TopLogprobs: []map[string]float32{}, TextOffset: []int{}}
	}
	if !req.Stream {
		var sb strings.Builder
		sb.WriteString(echo)
		var lps *oaiCompletionLogprobs
		if top >= 0 {
			lps = newLogprobs()
		}
		res, err := s.run(r.Context(), m, ereq, func(ev engine.Event) error {
			sb.WriteString(ev.Text)
			if lps != nil && ev.Token >= 0 {
				addLogprob(lps, ev)
			}
			return nil
		})
		if err != nil {
			return err
		}
		resp := base
		resp.Object = "text_completion"
		fr := res.FinishReason
		resp.Choices = []oaiCompletionChoice{{Text: sb.String(), Logprobs: lps, FinishReason: &fr}}
		resp.Usage = usageOf(res)
		writeJSON(w, http.StatusOK, resp)
		return nil
	}

	st := newStream(w, true)
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunk := func(text string, lps *oaiCompletionLogprobs, finish *string) any {
		c := base
		c.Object = "text_completion"
		c.Choices = []oaiCompletionChoice{{Text: text, Logprobs: lps, FinishReason: finish}}
		if includeUsage {
			return oaiCompletionChunk{oaiCompletionResponse: c}
		}
		return c
	}
	if echo != "" {
		if err := st.send(chunk(echo, nil, nil)); err != nil {
			return nil
		}
	}
	res, err := s.run(r.Context(), m, ereq, func(ev engine.Event) error {
		var lps *oaiCompletionLogprobs
		if top >= 0 && ev.Token >= 0 {
			lps = newLogprobs()
			addLogprob(lps, ev)
		}
		if ev.Text == "" && lps == nil {
			return nil
		}
		return st.send(chunk(ev.Text, lps, nil))
	})
	if err != nil {
		if !st.started {
			return err
		}
		if !clientGone(r, err) {
			s.streamError(st, r, err)
		}
		return nil
	}
	fr := res.FinishReason
	st.send(chunk("", nil, &fr))
	if includeUsage {
		c := base
		c.Object = "text_completion"
		c.Choices = []oaiCompletionChoice{}
		st.send(oaiCompletionChunk{oaiCompletionResponse: c, Usage: usageOf(res)})
	}
	st.write([]byte("[DONE]"))
	return nil
}

type oaiModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) handleOpenAIModels(w http.ResponseWriter, r *http.Request) error {
	ents, err := s.cfg.Resolver.List()
	if err != nil {
		return err
	}
	data := make([]oaiModel, 0, len(ents))
	for _, e := range ents {
		data = append(data, oaiModel{ID: e.Name, Object: "model", Created: e.ModifiedAt.Unix(), OwnedBy: "ondo"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	return nil
}

func (s *Server) handleOpenAIModel(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("model")
	path, err := s.cfg.Resolver.Resolve(name)
	if err != nil {
		return notFound(name, err)
	}
	e, err := statEntry(name, path)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, oaiModel{ID: name, Object: "model", Created: e.ModifiedAt.Unix(), OwnedBy: "ondo"})
	return nil
}

type oaiEmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// embedInputs reads an embeddings input: a string or an array of strings.
// Arrays of token ids (which OpenAI also takes) are refused: they would be
// ids of another tokenizer.
func embedInputs(raw json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		if len(ss) == 0 {
			return nil, badRequest("input", "\"input\" is an empty array")
		}
		return ss, nil
	}
	return nil, badRequest("input", "invalid value for \"input\": expected a string or an array of strings (token-id inputs are not supported)")
}

// maxEmbedInputs bounds the inputs of one embeddings request.
const maxEmbedInputs = 2048

func (s *Server) handleOpenAIEmbeddings(w http.ResponseWriter, r *http.Request) error {
	var req oaiEmbeddingRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Input) == 0 || string(req.Input) == "null" {
		return badRequest("input", "the \"input\" field is required")
	}
	inputs, err := embedInputs(req.Input)
	if err != nil {
		return err
	}
	if len(inputs) > maxEmbedInputs {
		return badRequest("input", "%d inputs: at most %d per request", len(inputs), maxEmbedInputs)
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return badRequest("encoding_format", "encoding_format %q is not one of float, base64", req.EncodingFormat)
	}
	if req.Dimensions != nil && *req.Dimensions < 1 {
		return badRequest("dimensions", "dimensions %d is below 1", *req.Dimensions)
	}
	m, err := s.acquireFor(r, req.Model, loadOptions{})
	if err != nil {
		return err
	}
	defer s.models.release(m)
	vecs, n, err := s.embed(r, m, inputs, false, req.Dimensions)
	if err != nil {
		return err
	}
	type item struct {
		Object    string `json:"object"`
		Embedding any    `json:"embedding"`
		Index     int    `json:"index"`
	}
	data := make([]item, len(vecs))
	for i, v := range vecs {
		data[i] = item{Object: "embedding", Embedding: v, Index: i}
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			data[i].Embedding = base64.StdEncoding.EncodeToString(b)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": n, "total_tokens": n},
	})
	return nil
}

// embed computes normalised embeddings, shortened to dims when asked (and
// normalised again, as for Matryoshka models).
func (s *Server) embed(r *http.Request, m *runner, inputs []string, truncate bool, dims *int) ([][]float32, int, error) {
	e, err := s.models.embedderOf(m)
	if err != nil {
		return nil, 0, err
	}
	vecs, n, err := e.Embed(r.Context(), inputs, truncate)
	if err != nil {
		return nil, 0, err
	}
	if dims != nil {
		for i, v := range vecs {
			if *dims < len(v) {
				vecs[i] = v[:*dims]
				normalize(vecs[i])
			}
		}
	}
	return vecs, n, nil
}
