package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/tokenizer"
)

// run submits req to r's engine and calls each with every event that
// carries text or a token, the text held back to the end included (with
// Token -1). It returns the final result. When each fails (the client is
// gone) the request is cancelled at once.
func (s *Server) run(ctx context.Context, r *runner, req engine.Request, each func(engine.Event) error) (*engine.Result, error) {
	if r.gen == nil {
		return nil, errNotGenerative(r.name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the engine's request whichever way we leave
	ch, err := r.gen.Submit(ctx, req)
	if err != nil {
		return nil, s.submitError(r, len(req.Prompt), err)
	}
	for ev := range ch {
		if ev.Done {
			if ev.Text != "" && ev.Err == nil {
				if err := each(engine.Event{Text: ev.Text, Token: -1}); err != nil {
					return ev.Result, err
				}
			}
			s.met.result(r.name, ev.Result)
			if ev.Err != nil {
				return ev.Result, s.submitError(r, len(req.Prompt), ev.Err)
			}
			return ev.Result, nil
		}
		if err := each(ev); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("the engine ended a stream without its final event")
}

// submitError turns an engine error into an HTTP answer.
func (s *Server) submitError(r *runner, promptLen int, err error) error {
	switch {
	case errors.Is(err, engine.ErrQueueFull):
		return &apiError{Status: http.StatusServiceUnavailable, Type: typeUnavailable, Code: "queue_full", RetryAfter: 2 * time.Second,
			Msg: fmt.Sprintf("model %q is busy: every slot is generating and the queue is full; try again later", r.name)}
	case errors.Is(err, engine.ErrPromptTooLong):
		return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "context_length_exceeded", Param: "messages",
			Msg: fmt.Sprintf("the prompt has %d tokens, more than the context of %d tokens of model %q: shorten it, load the model with a larger num_ctx (or --context), or ask to truncate (Ollama's \"truncate\": true)", promptLen, r.context, r.name)}
	case errors.Is(err, grammar.ErrTooComplex):
		return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest,
			Msg: "the output constraint needs more parser states than ondo allows: simplify the grammar or schema (fewer nested optional parts, smaller repetition counts)"}
	case errors.Is(err, engine.ErrBadRequest):
		msg := strings.TrimPrefix(err.Error(), engine.ErrBadRequest.Error()+": ")
		return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Msg: msg}
	case errors.Is(err, engine.ErrClosed):
		if s.shuttingDown() {
			return errShuttingDown
		}
		return &apiError{Status: http.StatusServiceUnavailable, Type: typeUnavailable, Code: "model_unloaded", RetryAfter: time.Second,
			Msg: fmt.Sprintf("model %q was unloaded while the request ran; try again", r.name)}
	case errors.Is(err, context.Canceled) && s.shuttingDown():
		return errShuttingDown
	}
	return err
}

// clientGone reports whether err only says that the request's client
// went away, so that there is nobody to tell.
func clientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil && errors.Is(err, r.Context().Err())
}

// streamWriter writes the messages of a streamed response, each flushed
// at once. Every write has a deadline of its own, so a client that stops
// reading is dropped without a write timeout on the whole stream.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	sse     bool
	started bool
	err     error
}

// streamWriteTimeout bounds one write of a stream.
const streamWriteTimeout = time.Minute

func newStream(w http.ResponseWriter, sse bool) *streamWriter {
	return &streamWriter{w: w, rc: http.NewResponseController(w), sse: sse}
}

func (s *streamWriter) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	if s.sse {
		h.Set("Content-Type", "text/event-stream")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

// send writes v as one message: an SSE "data:" event or one NDJSON line.
func (s *streamWriter) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(b)
}

func (s *streamWriter) write(b []byte) error {
	if s.err != nil {
		return s.err
	}
	s.start()
	_ = s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	var msg []byte
	if s.sse {
		msg = make([]byte, 0, len(b)+8)
		msg = append(append(append(msg, "data: "...), b...), "\n\n"...)
	} else {
		msg = append(b, '\n')
	}
	if _, err := s.w.Write(msg); err != nil {
		s.err = err
		return err
	}
	if err := s.rc.Flush(); err != nil {
		s.err = err
	}
	return s.err
}

// newID returns a random id with the given prefix, as OpenAI's
// "chatcmpl-…".
func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// samplingParams are the sampling settings a request gave; nil fields
// keep the defaults of sample.DefaultConfig.
type samplingParams struct {
	Temperature, TopP, MinP, RepeatPenalty, PresencePenalty, FrequencyPenalty *float32
	TopK, RepeatLastN                                                         *int
	Seed                                                                      *int64
	LogitBias                                                                 map[int32]float32
}

// config builds the sample.Config of a request, checked.
func (p samplingParams) config() (sample.Config, error) {
	c := sample.DefaultConfig()
	set := func(dst *float32, src *float32) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.Temperature, p.Temperature)
	set(&c.TopP, p.TopP)
	set(&c.MinP, p.MinP)
	set(&c.RepeatPenalty, p.RepeatPenalty)
	set(&c.PresencePenalty, p.PresencePenalty)
	set(&c.FrequencyPenalty, p.FrequencyPenalty)
	if p.TopK != nil {
		c.TopK = *p.TopK
	}
	if p.RepeatLastN != nil {
		c.RepeatLastN = *p.RepeatLastN
	}
	if p.Seed != nil {
		c.Seed = *p.Seed
		if c.Seed < 0 {
			c.Seed = sample.RandomSeed
		}
	}
	c.LogitBias = p.LogitBias
	for _, v := range []*float32{p.Temperature, p.TopP, p.MinP, p.RepeatPenalty, p.PresencePenalty, p.FrequencyPenalty} {
		if v != nil && (math.IsNaN(float64(*v)) || math.IsInf(float64(*v), 0)) {
			return c, badRequest("", "sampling settings must be finite numbers")
		}
	}
	if c.TopK < 0 {
		return c, badRequest("top_k", "top_k %d is negative", c.TopK)
	}
	if c.RepeatLastN < -1 {
		return c, badRequest("repeat_last_n", "repeat_last_n %d is below -1 (-1 means the whole history)", c.RepeatLastN)
	}
	if err := c.Validate(); err != nil {
		return c, badRequest("", "invalid sampling settings: %s", strings.TrimPrefix(err.Error(), "sample: "))
	}
	return c, nil
}

// encodePrompt tokenizes a prompt written in the model's own format (a
// rendered chat template or a raw prompt): control tokens written in it
// are parsed, BOS is added as the metadata says unless the text already
// starts with it, and no EOS is added (it would end the text before it
// starts).
func (r *runner) encodePrompt(text string) []int32 {
	opts := tokenizer.EncodeOptions{AddSpecial: true, ParseSpecial: true, EOS: tokenizer.Off}
	if bos := r.bosText(); bos != "" && strings.HasPrefix(text, bos) {
		opts.BOS = tokenizer.Off
	}
	return r.tok.Encode(text, opts)
}

// bosText is the text of the BOS token, as templates write it.
func (r *runner) bosText() string {
	if id := r.tok.BOS(); id != tokenizer.NoToken {
		return r.tok.Piece(id)
	}
	return ""
}

func (r *runner) eosText() string {
	if id := r.tok.EOS(); id != tokenizer.NoToken {
		return r.tok.Piece(id)
	}
	return ""
}

// renderChat renders a conversation with tmpl (the model's template when
// nil), ending with the start of the assistant's turn.
func (r *runner) renderChat(tmpl *chat.Template, msgs []chat.Message, tools []any, kwargs map[string]any) (string, error) {
	if tmpl == nil {
		tmpl = r.tmpl
	}
	text, err := tmpl.Render(chat.Input{
		Messages:            msgs,
		AddGenerationPrompt: true,
		BOSToken:            r.bosText(),
		EOSToken:            r.eosText(),
		Tools:               tools,
		Kwargs:              kwargs,
	})
	if err != nil {
		var re *chat.RaiseError
		if errors.As(err, &re) {
			return "", badRequest("messages", "the model's chat template rejects this conversation: %s", re.Message)
		}
		return "", badRequest("messages", "rendering the chat template: %v", err)
	}
	return text, nil
}

// parseTemplate compiles a request's own chat template (a Jinja template,
// the language of tokenizer.chat_template).
func parseTemplate(src string) (*chat.Template, error) {
	t, err := chat.Parse(src)
	if err != nil {
		return nil, badRequest("template", "the template must be a Jinja chat template (the language of GGUF's tokenizer.chat_template; Ollama's Go templates are not supported): %v", err)
	}
	return t, nil
}

// tokenText is a generated token's text as it stands alone (its bytes: a
// piece of a multi-byte character is not valid UTF-8 on its own).
func (r *runner) tokenText(id int32) string { return string(r.tok.Bytes(id)) }

// byteInts lists a string's bytes as JSON integers, the "bytes" of OpenAI's
// and Ollama's logprobs.
func byteInts(s string) []int {
	out := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int(s[i])
	}
	return out
}

// stopList is a stop field that may be one string or an array of them.
type stopList []string

// UnmarshalJSON accepts a string, an array of strings or null.
func (s *stopList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one == "" {
			*s = nil
		} else {
			*s = stopList{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return badRequest("stop", "invalid value for \"stop\": expected a string or an array of strings")
	}
	out := many[:0]
	for _, v := range many {
		if v != "" {
			out = append(out, v)
		}
	}
	*s = out
	return nil
}

// maxStops bounds the stop strings of one request.
const maxStops = 16

func checkStops(s stopList) error {
	if len(s) > maxStops {
		return badRequest("stop", "%d stop strings: at most %d are allowed", len(s), maxStops)
	}
	return nil
}

// keepAlive is Ollama's keep_alive: a duration string ("5m", "1h"), a
// number of seconds, or a negative value for forever.
type keepAlive struct{ d time.Duration }

// UnmarshalJSON implements json.Unmarshaler.
func (k *keepAlive) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := parseKeepAlive(v)
	if err != nil {
		return badRequest("keep_alive", "%v", err)
	}
	k.d = d
	return nil
}

// ParseKeepAlive reads a keep-alive the way Ollama does: a duration string
// ("5m", "1h30m"), a number of seconds (as a number or a string), or a
// negative value, which means forever (returned as -1).
func ParseKeepAlive(s string) (time.Duration, error) { return parseKeepAlive(s) }

func parseKeepAlive(v any) (time.Duration, error) {
	var d time.Duration
	switch t := v.(type) {
	case float64:
		if math.IsNaN(t) || t > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("keep_alive %v is out of range", t)
		}
		d = time.Duration(t * float64(time.Second))
	case string:
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return parseKeepAlive(f)
		}
		var err error
		d, err = time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("keep_alive %q is neither a duration (such as \"5m\") nor a number of seconds", t)
		}
	default:
		return 0, fmt.Errorf("keep_alive must be a duration string or a number of seconds")
	}
	if d < 0 {
		return -1, nil
	}
	return d, nil
}
