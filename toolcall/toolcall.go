// Package toolcall splits a chat model's output into content, reasoning
// and tool calls, in the output format of the model's family, as the text
// streams in.
//
// A Spec, chosen from the chat template (Detect), names the format: where
// a call starts and ends, how its name and arguments are written, and the
// markers of a reasoning section. A Parser takes the generated text in
// chunks cut anywhere (inside a marker, inside a multi-byte character) and
// returns Events: content and reasoning deltas, the start of each call
// (its index, id and name) and its arguments as they are generated, so a
// server can stream them. Marker text never reaches content.
//
// Formats:
//
//	hermes      <tool_call>{"name": …, "arguments": {…}}</tool_call>   Hermes 2/3, Qwen2.5, Qwen3
//	llama3      {"name": …, "parameters": {…}} as the whole answer, or after <|python_tag|>   Llama 3.1–3.3
//	mistral     [TOOL_CALLS][{"name": …, "arguments": {…}, "id": …}, …]   Mistral Nemo
//	mistral-v11 [TOOL_CALLS]NAME[CALL_ID]ID[ARGS]{…}   Mistral Small 3.2, Magistral, Devstral
//	deepseek-r1 <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{…}\n```<｜tool▁call▁end｜>…   DeepSeek R1
//	deepseek-v3 <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}<｜tool▁call▁end｜>…   DeepSeek V3.1
//	gemma4      <|tool_call>call:NAME{KEY:<|"|>TEXT<|"|>,…}<tool_call|>…   Gemma 4 (see gemma4.go)
//
// Reasoning sections are <think>…</think> or [THINK]…[/THINK] (Gemma 4's
// <|channel>thought…<channel|>); a template that opens the section in the
// prompt starts the parser inside it.
package toolcall

import (
	"crypto/rand"

	"encoding/json"
	"github.com/ondo-ai/ondo/chat"
	"slices"
	"strings"
	"unicode/utf8"
)

// Format names a tool-call output format (see the package comment).
type Format string

// The formats.
const (
	None       Format = ""
	Hermes     Format = "hermes"
	Llama3     Format = "llama3"
	Mistral    Format = "mistral"
	MistralV11 Format = "mistral-v11"
	DeepSeekR1 Format = "deepseek-r1"
	DeepSeekV3 Format = "deepseek-v3"
	Granite    Format = "granite"
	Phi4       Format = "phi4"
	CommandR7B Format = "command-r7b"
	KimiK2     Format = "kimi-k2"
	QwenXML    Format = "qwen3-coder"
	GLM        Format = "glm"
	Harmony    Format = "harmony"
	LFM2       Format = "lfm2"
	Gemma4     Format = "gemma4"
	// Generic is for templates that take tools in no format ondo knows;
	// Detect never picks it (see the generic format in generic.go).
	Generic Format = "generic"
)

// body is how one call is written.
type body uint8

const (
	bodyJSON     body = iota // {"name": …, "arguments": …}
	bodyNameArgs             // NAME[CALL_ID]ID[ARGS]{…} (Mistral v11)
	bodySep                  // NAME SEP {…} END (DeepSeek, Kimi-K2)
	bodyXML                  // <function=NAME><parameter=K>V</parameter>…</function> (Qwen3-Coder)
	bodyGLM                  // NAME<arg_key>K</arg_key><arg_value>V</arg_value>… (GLM-4.5/4.6)
	bodyPython               // NAME(K=V, …) in a list (LFM2)
	bodyGemma                // call:NAME{K:V, …} (Gemma 4)
)

// formatDef is where a format's calls are and how each is written.
type formatDef struct {
	open     []string // markers that open the call region
	close    string   // the marker that closes it ("" none)
	close2   string   // another spelling of it, also read
	callOpen []string // markers that open each call inside the region
	list     bool     // the calls are a JSON list [a, b]
	body     body
	// For bodySep: what comes before the name, the separator before the
	// arguments, and the call's end.
	namePrefix, sep, end string
	// channel is the control token that opens a reasoning channel, the
	// Spec's ThinkOpen being it and the channel's name (Gemma 4's
	// <|channel>thought). Answer text cannot hold it, so a section may come
	// anywhere; the spaces after the name are not reasoning; and markers
	// with no section (a channel token without the name, a closing marker
	// without its opening) are dropped.
	channel string
}

var formats = map[Format]formatDef{
	Hermes:     {open: []string{"<tool_call>"}, close: "</tool_call>"},
	Llama3:     {open: []string{"<|python_tag|>"}, close: "<|eom_id|>"},
	Mistral:    {open: []string{"[TOOL_CALLS]"}, list: true},
	MistralV11: {open: []string{"[TOOL_CALLS]"}, callOpen: []string{"[TOOL_CALLS]"}, body: bodyNameArgs},
	DeepSeekR1: {open: []string{"<｜tool▁calls▁begin｜>"}, close: "<｜tool▁calls▁end｜>", callOpen: []string{"<｜tool▁call▁begin｜>"},
		body: bodySep, namePrefix: "function", sep: "<｜tool▁sep｜>", end: "<｜tool▁call▁end｜>"},
	DeepSeekV3: {open: []string{"<｜tool▁calls▁begin｜>"}, close: "<｜tool▁calls▁end｜>", callOpen: []string{"<｜tool▁call▁begin｜>"},
		body: bodySep, sep: "<｜tool▁sep｜>", end: "<｜tool▁call▁end｜>"},
	Granite:    {open: []string{"<|tool_call|>"}, list: true},
	Phi4:       {open: []string{"<|tool_call|>"}, close: "<|/tool_call|>", close2: "</|tool_call|>", list: true},
	CommandR7B: {open: []string{"<|START_ACTION|>"}, close: "<|END_ACTION|>", list: true},
	KimiK2: {open: []string{"<|tool_calls_section_begin|>"}, close: "<|tool_calls_section_end|>", callOpen: []string{"<|tool_call_begin|>"},
		body: bodySep, namePrefix: "functions.", sep: "<|tool_call_argument_begin|>", end: "<|tool_call_end|>"},
	QwenXML: {open: []string{"<tool_call>"}, close: "</tool_call>", body: bodyXML},
	GLM:     {open: []string{"<tool_call>"}, close: "</tool_call>", body: bodyGLM},
	LFM2:    {open: []string{"<|tool_call_start|>"}, close: "<|tool_call_end|>", list: true, body: bodyPython},
	Gemma4:  {open: []string{g4CallOpen}, close: g4CallClose, body: bodyGemma, channel: g4Channel},
}

// Spec is a model family's output format.
type Spec struct {
	Format Format
	// ThinkOpen and ThinkClose are the markers of a reasoning section;
	// empty when the family has none.
	ThinkOpen, ThinkClose string
	// Strip are markers around the answer that are not part of it
	// (Command R7B's <|START_RESPONSE|>, Granite's <response>).
	Strip []string
}

// Detect chooses the format from a chat template's source by the markers
// it writes, as llama.cpp does.
func Detect(template string) Spec {
	var s Spec
	has := func(m string) bool { return strings.Contains(template, m) }
	switch {
	case has("<|channel|>") && has("<|message|>"):
		s.Format = Harmony
		return s // its channels are its reasoning markers
	case has(g4CallOpen) && has(g4CallClose):
		s.Format = Gemma4
	case has("<|tool_call_start|>") || has("<|tool_list_start|>"):
		s.Format = LFM2
	case has("<|tool_calls_section_begin|>"):
		s.Format = KimiK2
	case has("<|START_ACTION|>"):
		s.Format = CommandR7B
	case has("<function=") && has("<parameter="):
		s.Format = QwenXML
	case has("<arg_key>") && has("<arg_value>"):
		s.Format = GLM
	case has("<|tool_call|>") && (has("<|/tool_call|>") || has("</|tool_call|>")):
		s.Format = Phi4
	case has("<|tool_call|>"):
		s.Format = Granite
	case has("[TOOL_CALLS]") && has("[ARGS]"):
		s.Format = MistralV11
	case has("[TOOL_CALLS]"):
		s.Format = Mistral
	case has("<｜tool▁calls▁begin｜>") && has("<｜tool▁sep｜>") && (has("function<｜tool▁sep｜>") || has("```json")):
		s.Format = DeepSeekR1
	case has("<｜tool▁calls▁begin｜>") && has("<｜tool▁sep｜>"):
		s.Format = DeepSeekV3
	case has("<tool_call>"):
		s.Format = Hermes
	case has("<|python_tag|>") || has("<|start_header_id|>ipython<|end_header_id|>") || has(`"parameters": dictionary of argument name`):
		s.Format = Llama3
	}
	switch {
	case has(g4Channel) && has(g4ChannelEnd):
		s.ThinkOpen, s.ThinkClose = g4Channel+g4Thought, g4ChannelEnd
	case has("<|START_THINKING|>"):
		s.ThinkOpen, s.ThinkClose = "<|START_THINKING|>", "<|END_THINKING|>"
	case has("[THINK]"):
		s.ThinkOpen, s.ThinkClose = "[THINK]", "[/THINK]"
	case has("<think>") || has("</think>"):
		s.ThinkOpen, s.ThinkClose = "<think>", "</think>"
	}
	if has("<|START_RESPONSE|>") {
		s.Strip = []string{"<|START_RESPONSE|>", "<|END_RESPONSE|>"}
	} else if has("<response>") && has("</response>") {
		s.Strip = []string{"<response>", "</response>"}
	}
	return s
}

// Kind tells what an Event carries.
type Kind uint8

// The kinds of events.
const (
	Content   Kind = iota // Text is more of the answer
	Reasoning             // Text is more of the reasoning
	CallStart             // a call begins: Index, ID, Name
	CallArgs              // Text is more of call Index's arguments (JSON text)
	CallEnd               // call Index is complete (or cut short by the end of output)
)

// Event is one piece of parsed output.
type Event struct {
	Kind  Kind
	Text  string
	Index int
	ID    string
	Name  string
}

// Options set up a Parser.
type Options struct {
	// Tools parses tool calls; without it (no tools, tool_choice "none")
	// all output outside reasoning is content.
	Tools bool
	// Reasoning splits reasoning sections from the content; without it
	// their markers and text are content.
	Reasoning bool
	// InReasoning starts inside a reasoning section, opened by the prompt.
	InReasoning bool
	// Schemas are the offered tools: formats that write arguments other
	// than as JSON (Qwen3-Coder's, GLM's) need the parameters' types.
	Schemas []Tool
	// MaxCalls, when above 0, is the most calls reported (OpenAI's
	// parallel_tool_calls false is 1); calls after them are dropped.
	MaxCalls int
	// NewID makes the id of a call the output gives none; nil makes
	// OpenAI-style ids ("call_" and 24 letters and digits), or 9 letters
	// and digits for the Mistral formats, whose templates require them.
	NewID func() string
}

// Parser splits one output as it streams. It is not safe for concurrent use.
type Parser struct {
	spec  Spec
	opt   Options
	buf   []byte // text not yet decided
	state state
	// started is set once any content or call was seen: a bare JSON call
	// (llama3) must be the whole answer.
	started bool
	trim    bool // drop whitespace before the content (after reasoning)
	// trimThink drops whitespace before the reasoning (after Gemma 4's
	// channel name).
	trimThink bool
	inList    bool // inside a call region's JSON list
	calls     int  // calls started
	call      callScan
	h         harmonyState
	out       []Event
}

type state uint8

const (
	sText state = iota
	sThink
	sCall      // inside a call region, between calls
	sCallBody  // reading one call
	sBareMaybe // llama3: the answer starts with '{', maybe a call
	sDone      // after the region ends where nothing may follow (bare JSON)
)

// NewParser returns a parser of spec's format.
func (s Spec) NewParser(o Options) *Parser {
	p := &Parser{spec: s, opt: o}
	if o.Reasoning && o.InReasoning && s.ThinkOpen != "" {
		p.state = sThink
		p.trimThink = formats[s.Format].channel != ""
	}
	if p.opt.NewID == nil {
		if s.Format == Mistral || s.Format == MistralV11 {
			p.opt.NewID = func() string { return randomID(9) }
		} else {
			p.opt.NewID = func() string { return "call_" + randomID(24) }
		}
	}
	return p
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return string(b)
}

// Write takes the next chunk of output and returns what it decides.
func (p *Parser) Write(chunk string) []Event {
	p.buf = append(p.buf, chunk...)
	p.run(false)
	return p.take()
}

// Close ends the output and returns the rest: text held back in case it
// began a marker is content (or reasoning); a call cut short keeps the
// arguments it had.
func (p *Parser) Close() []Event {
	p.run(true)
	return p.take()
}

func (p *Parser) take() []Event {
	out := p.out
	p.out = nil
	return out
}

func (p *Parser) emit(k Kind, text string) {
	if text == "" {
		return
	}
	if k == Reasoning && p.trimThink {
		if text = strings.TrimLeft(text, " \t\r\n"); text == "" {
			return
		}
		p.trimThink = false
	}
	if k == Content {
		if p.trim {
			text = strings.TrimLeft(text, " \t\r\n")
			if text == "" {
				return
			}
			p.trim = false
		}
		p.started = true
	}
	if n := len(p.out); n > 0 && p.out[n-1].Kind == k && p.out[n-1].Index == p.curIndex(k) {
		p.out[n-1].Text += text
		return
	}
	p.out = append(p.out, Event{Kind: k, Text: text, Index: p.curIndex(k)})
}

func (p *Parser) curIndex(k Kind) int {
	if k == CallArgs {
		return p.calls - 1
	}
	return 0
}

// run decides as much of buf as it can; at the end (final) it decides all.
func (p *Parser) run(final bool) {
	idle := 0
	for {
		size, events := len(p.buf), len(p.out)
		var progressed bool
		switch p.spec.Format {
		case Harmony:
			progressed = p.harmony(final)
		case Generic:
			progressed = p.generic(final)
		default:
			progressed = p.step(final)
		}
		if !progressed {
			return
		}
		// States may hand over without consuming, but never go round:
		// stop when several steps changed nothing.
		if len(p.buf) != size || len(p.out) != events {
			idle = 0
		} else if idle++; idle > 8 {
			return
		}
	}
}

// step is one step of the formats other than harmony; it reports whether
// it may have made progress.
func (p *Parser) step(final bool) bool {
	switch p.state {
	case sText:
		return p.text(final)
	case sThink:
		return p.think(final)
	case sBareMaybe:
		return p.bareMaybe(final)
	case sCall:
		return p.region(final)
	case sCallBody:
		return p.body(final)
	case sDone:
		// Text after a bare call: keep it as content.
		n := p.decidable(nil, final)
		p.emit(Content, string(p.buf[:n]))
		p.buf = p.buf[n:]
	}
	return false
}

// text scans content for a reasoning section or a call.
func (p *Parser) text(final bool) bool {
	var marks []string
	def := formats[p.spec.Format]
	channels := def.channel != ""
	think := p.opt.Reasoning && p.spec.ThinkOpen != "" && (!p.started || channels)
	if think {
		marks = append(marks, p.spec.ThinkOpen)
		if channels {
			marks = append(marks, def.channel, p.spec.ThinkClose) // without a section: dropped
		}
	}
	marks = append(marks, p.spec.Strip...)
	if p.opt.Tools {
		marks = append(marks, def.open...)
		if p.spec.Format == Llama3 && !p.started {
			// A bare JSON call must be the whole answer.
			if t := strings.TrimLeft(string(p.buf), " \t\r\n"); t != "" && t[0] == '{' {
				p.buf = []byte(t)
				p.state = sBareMaybe
				return true
			} else if t == "" && !final {
				return false
			}
		}
	}
	i, m := firstMarker(p.buf, marks)
	if think && !channels && i >= 0 && m == p.spec.ThinkOpen && strings.TrimLeft(string(p.buf[:i]), " \t\r\n") != "" {
		// Reasoning opens the answer or not at all.
		marks = marks[1:]
		i, m = firstMarker(p.buf, marks)
	}
	if i < 0 {
		n := p.decidable(marks, final)
		if think && strings.TrimLeft(string(p.buf[:n]), " \t\r\n") == "" && !final {
			return false // spaces: the reasoning may still open
		}
		p.emit(Content, string(p.buf[:n]))
		p.buf = p.buf[n:]
		return false
	}
	p.emit(Content, string(p.buf[:i]))
	if think && m == def.channel && !final && strings.HasPrefix(p.spec.ThinkOpen, string(p.buf[i:])) {
		p.buf = p.buf[i:]
		return false // the channel's name may follow
	}
	p.buf = p.buf[i+len(m):]
	switch {
	case think && m == p.spec.ThinkOpen:
		p.state = sThink
		p.trimThink = channels
	case slices.Contains(p.spec.Strip, m) || think && channels && (m == def.channel || m == p.spec.ThinkClose):
		// Not part of the answer.
	default:
		p.state = sCall
		p.inList = false
		if slices.Contains(def.callOpen, m) {
			p.startBody() // the region's opening is the call's
		}
	}
	return true
}

// think reads a reasoning section up to its closing marker.
func (p *Parser) think(final bool) bool {
	marks := []string{p.spec.ThinkClose}
	i, _ := firstMarker(p.buf, marks)
	if i < 0 {
		n := p.decidable(marks, final)
		p.emit(Reasoning, string(p.buf[:n]))
		p.buf = p.buf[n:]
		return false
	}
	p.emit(Reasoning, string(p.buf[:i]))
	p.buf = p.buf[i+len(p.spec.ThinkClose):]
	p.state = sText
	p.trim = true
	return true
}

// decidable is how much of buf, holding none of marks, can be passed on:
// all at the end, else all but what may begin a marker or a character.
func (p *Parser) decidable(marks []string, final bool) int {
	if final {
		return len(p.buf)
	}
	return holdBack(p.buf, marks)
}

// bareMaybe decides whether an answer starting with '{' is a llama3 call:
// its first key must be "name" (or "type" then "name").
func (p *Parser) bareMaybe(final bool) bool {
	k, ok := firstKey(p.buf)
	if !ok && !final {
		return false
	}
	if ok && (k == "name" || k == "type" || k == "function") {
		p.state = sCall
		p.startBody()
		return true
	}
	// Not a call: the answer is text (started: not looked at again).
	p.started = true
	p.state = sText
	return true
}

// region reads a call region between calls: separators, a list's
// brackets, the region's closing marker, or the start of the next call.
func (p *Parser) region(final bool) bool {
	f := p.spec.Format
	def := formats[f]
	for len(p.buf) > 0 {
		c := p.buf[0]
		switch {
		case isSpace(c) || c == ',' || c == ';':
			p.buf = p.buf[1:]
			continue
		case def.list && c == '[' && !p.inList:
			p.inList = true
			p.buf = p.buf[1:]
			continue
		case def.list && c == ']' && p.inList:
			p.inList = false
			p.buf = p.buf[1:]
			if def.close == "" {
				p.endRegion()
				return true
			}
			continue
		case c == '{' && def.body == bodyJSON:
			p.startBody()
			return true
		}
		marks := append([]string{def.close, def.close2}, def.callOpen...)
		marks = append(marks, def.open...)
		for _, m := range marks {
			if m == "" {
				continue
			}
			if strings.HasPrefix(string(p.buf), m) {
				p.buf = p.buf[len(m):]
				switch {
				case m == def.close || m == def.close2:
					p.endRegion()
				case slices.Contains(def.callOpen, m):
					p.startBody()
				}
				return true
			}
			if !final && strings.HasPrefix(m, string(p.buf)) {
				return false // maybe a marker: wait
			}
		}
		if def.body != bodyJSON && def.callOpen == nil || def.body == bodyNameArgs {
			p.startBody() // the call follows the opening directly
			return true
		}
		// Anything else ends the region: it is content.
		p.endRegion()
		return true
	}
	return false
}

// endRegion goes back to the answer after a call region; spaces between
// and after calls are not content. Text after a bare llama3 call is kept
// apart: no call can follow it.
func (p *Parser) endRegion() {
	p.state = sText
	p.trim = true
	if p.spec.Format == Llama3 {
		p.state = sDone
	}
}

func (p *Parser) startBody() {
	p.state = sCallBody
	p.call = callScan{format: p.spec.Format, tools: p.opt.Schemas}
}

// body reads one call, announcing it once its name is known and passing
// on its arguments as they come.
func (p *Parser) body(final bool) bool {
	c := &p.call
	if c.pending(p.buf) {
		// The arguments are still coming: pass them on without reading
		// the call again from its start.
		if c.announced {
			end := c.argsStart + holdBack(p.buf[c.argsStart:], nil)
			if !final && end > c.argsStart+c.argsSent {
				p.emit(CallArgs, string(p.buf[c.argsStart+c.argsSent:end]))
				c.argsSent = end - c.argsStart
			}
		}
		if !final {
			return false
		}
	}
	n, done := c.scan(p.buf)
	if p.opt.MaxCalls > 0 && p.calls >= p.opt.MaxCalls && !c.announced {
		// One call too many: read it and drop it.
		if done {
			p.buf = p.buf[n:]
			p.state = sCall
			return true
		}
		if final {
			p.buf = p.buf[:0]
		}
		return false
	}
	// Mistral Nemo writes the id after the arguments: wait for it.
	early := (c.argsStart >= 0 || c.built != nil) && p.spec.Format != Mistral
	if c.name != "" && !c.announced && (early || done || final) {
		id := c.id
		if id == "" {
			id = p.opt.NewID()
		}
		p.calls++
		p.out = append(p.out, Event{Kind: CallStart, Index: p.calls - 1, ID: id, Name: c.name})
		c.announced = true
	}
	if c.announced && c.built != nil {
		if len(c.built) > c.argsSent {
			p.emit(CallArgs, string(c.built[c.argsSent:]))
			c.argsSent = len(c.built)
		}
	} else if c.announced && c.argsStart >= 0 {
		end := c.argsEnd
		if end < 0 {
			end = c.argsAvail
			if !final {
				end = c.argsStart + holdBack(p.buf[c.argsStart:end], nil)
			}
		}
		if c.argsString {
			if c.argsEnd >= 0 && c.argsSent == 0 {
				var s string
				if json.Unmarshal(p.buf[c.argsStart:c.argsEnd], &s) == nil {
					p.emit(CallArgs, s)
				}
				c.argsSent = 1
			}
		} else if end > c.argsStart+c.argsSent {
			p.emit(CallArgs, string(p.buf[c.argsStart+c.argsSent:end]))
			c.argsSent = end - c.argsStart
		}
	}
	if !done {
		if final {
			// Cut short: a call keeps what it had, anything else is content.
			if !c.announced {
				p.emit(Content, string(p.buf))
			} else {
				if c.argsStart < 0 && c.built == nil {
					p.emit(CallArgs, "{}")
				}
				p.out = append(p.out, Event{Kind: CallEnd, Index: p.calls - 1})
			}
			p.buf = p.buf[:0]
		}
		return false
	}
	if c.announced && c.argsStart < 0 && c.built == nil {
		p.emit(CallArgs, "{}")
	}
	if !c.announced {
		// Not a call after all (no name): the text is content, less
		// the spaces after the marker.
		p.trim = true
		p.emit(Content, string(p.buf[:n]))
		p.buf = p.buf[n:]
		p.state = sText
		return true
	}
	p.out = append(p.out, Event{Kind: CallEnd, Index: p.calls - 1})
	p.buf = p.buf[n:]
	p.state = sCall
	return true
}

// firstMarker returns the first position in b where one of marks starts,
// and which; -1 when none does.
func firstMarker(b []byte, marks []string) (int, string) {
	best, which := -1, ""
	s := string(b)
	for _, m := range marks {
		if i := strings.Index(s, m); i >= 0 && (best < 0 || i < best) {
			best, which = i, m
		}
	}
	return best, which
}

// holdBack returns how much of b can be decided now: all but a tail that
// may be the start of one of marks, or an incomplete UTF-8 character.
func holdBack(b []byte, marks []string) int {
	n := len(b)
	for _, m := range marks {
		for k := min(len(m)-1, len(b)); k > 0; k-- {
			if strings.HasSuffix(string(b), m[:k]) {
				n = min(n, len(b)-k)
				break
			}
		}
	}
	// Do not cut a character.
	for i := n - 1; i >= 0 && i >= n-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:n]) {
				n = i
			}
			break
		}
	}
	return n
}

// firstKey returns the first key of the JSON object b starts with, once
// it is complete.
func firstKey(b []byte) (string, bool) {
	i := 1
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) {
		return "", false
	}
	if b[i] != '"' {
		return "", true // not an object with keys: not a call
	}
	end := stringEnd(b, i)
	if end < 0 {
		return "", false
	}
	var k string
	json.Unmarshal(b[i:end], &k)
	return k, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// stringEnd returns the position after the JSON string starting at b[i]
// (a quote), or -1 when it is not complete.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the position after the JSON value starting at b[i],
// or -1 when it is not complete; avail is how far the value is known to
// reach (all of b when incomplete).
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := stringEnd(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	// A literal: up to a delimiter.
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ')', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return -1
}

// Call is a complete tool call.
type Call struct {
	ID, Name string
	// Arguments is the arguments' JSON text as generated.
	Arguments string
}

// Message is a whole output, split.
type Message struct {
	Content, Reasoning string
	Calls              []Call
}

// Collect gathers events into a Message.
func Collect(events []Event) Message {
	var m Message
	var content, reasoning strings.Builder
	for _, e := range events {
		switch e.Kind {
		case Content:
			content.WriteString(e.Text)
		case Reasoning:
			reasoning.WriteString(e.Text)
		case CallStart:
			m.Calls = append(m.Calls, Call{ID: e.ID, Name: e.Name})
		case CallArgs:
			if e.Index < len(m.Calls) {
				m.Calls[e.Index].Arguments += e.Text
			}
		}
	}
	m.Content, m.Reasoning = content.String(), reasoning.String()
	return m
}

// Parse splits a whole output at once.
func (s Spec) Parse(text string, o Options) Message {
	p := s.NewParser(o)
	ev := p.Write(text)
	return Collect(append(ev, p.Close()...))
}

// Supports reports what a chat template lets a model do: take tools (the
// template writes them into the prompt and ondo knows its call format)
// and think (the template handles reasoning).
func Supports(t *chat.Template) (tools, thinking bool) {
	caps := t.Caps()
	return caps.Tools && Detect(t.Source()).Format != None, caps.Thinking
}

// Reasons reports whether the format has a reasoning section to split
// off: think markers, or harmony's analysis channel.
func (s Spec) Reasons() bool { return s.ThinkOpen != "" || s.Format == Harmony }
