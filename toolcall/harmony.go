package toolcall

import "strings"

// gpt-oss's harmony format: the output is a sequence of messages,
//
//	[<|start|>assistant[ to=functions.NAME]]<|channel|>CHANNEL[ to=functions.NAME][ <|constrain|>json]<|message|>BODY<|end|>
//
// (the prompt ends with <|start|>assistant, and <|call|> or <|return|>
// ends the last message as an end-of-generation token). The analysis
// channel is reasoning, final is the answer, commentary addressed to
// functions.NAME is a call whose body is its JSON arguments, and other
// commentary (a preamble to the user) is content.

const (
	hStart   = "<|start|>"
	hChannel = "<|channel|>"
	hMessage = "<|message|>"
	hEnd     = "<|end|>"
	hCall    = "<|call|>"
	hReturn  = "<|return|>"
)

// harmonyState is where the parser is in a harmony output.
type harmonyState struct {
	inBody bool
	kind   Kind // what the current message's body is
}

// harmony decides as much of buf as it can.
func (p *Parser) harmony(final bool) bool {
	h := &p.h
	if !h.inBody {
		// A header: up to <|message|>.
		s := string(p.buf)
		i := strings.Index(s, hMessage)
		if i < 0 {
			if final {
				// Not a harmony message after all: the text is content.
				p.emit(Content, strings.TrimPrefix(strings.TrimPrefix(s, hStart+"assistant"), hStart))
				p.buf = p.buf[:0]
			} else if !strings.HasPrefix(s, hStart) && !strings.HasPrefix(s, hChannel) &&
				!strings.HasPrefix(hStart, s) && !strings.HasPrefix(hChannel, s) {
				// Plain text where a header should be: content.
				n := p.decidable(nil, final)
				p.emit(Content, s[:n])
				p.buf = p.buf[n:]
			}
			return false
		}
		header := s[:i]
		p.buf = p.buf[i+len(hMessage):]
		h.inBody = true
		channel := ""
		if j := strings.Index(header, hChannel); j >= 0 {
			if f := strings.Fields(header[j+len(hChannel):]); len(f) > 0 {
				channel = f[0]
			}
		}
		to := ""
		if j := strings.Index(header, "to=functions."); j >= 0 {
			rest := header[j+len("to=functions."):]
			end := strings.IndexAny(rest, " <")
			if end < 0 {
				end = len(rest)
			}
			to = rest[:end]
		}
		switch {
		case to != "" && p.opt.Tools && (p.opt.MaxCalls == 0 || p.calls < p.opt.MaxCalls):
			p.calls++
			p.out = append(p.out, Event{Kind: CallStart, Index: p.calls - 1, ID: p.opt.NewID(), Name: to})
			h.kind = CallArgs
		case to != "":
			h.kind = Kind(255) // a call not asked for: dropped
		case channel == "analysis" && p.opt.Reasoning:
			h.kind = Reasoning
		default:
			h.kind = Content
		}
		return true
	}
	// A body: up to the end of the message.
	marks := []string{hEnd, hCall, hReturn, hStart}
	i, m := firstMarker(p.buf, marks)
	n := i
	if i < 0 {
		n = p.decidable(marks, final)
	}
	if h.kind != Kind(255) {
		p.emit(h.kind, string(p.buf[:n]))
	}
	p.buf = p.buf[n:]
	if i < 0 && !final {
		return false
	}
	if i >= 0 && m != hStart {
		p.buf = p.buf[len(m):]
	}
	if h.kind == CallArgs {
		p.out = append(p.out, Event{Kind: CallEnd, Index: p.calls - 1})
	}
	if h.kind == Content {
		p.trim = true // between messages
	}
	h.inBody = false
	return i >= 0
}
