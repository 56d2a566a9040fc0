package tokenizer

// AddFlags reports which special tokens the vocabulary asks to be added
// around a text, llama.cpp's add_bos, add_eos and add_sep (from
// tokenizer.ggml.add_*_token, with each tokenizer model's defaults), for
// callers that assemble sequences of several texts themselves, as
// llama-server's reranking does: BOS first, EOS after each text, SEP
// between texts.
func (t *Tokenizer) AddFlags() (bos, eos, sep bool) {
	return t.addBOS && t.bos >= 0, t.addEOS, t.addSep && t.sep >= 0
}
