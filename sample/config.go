package sample

import (
	"fmt"
	"math"
	"slices"
)

// RandomSeed is the Config.Seed that asks for a random seed (any negative seed does).
const RandomSeed = -1

// Config holds the sampling settings of one generation. Its zero value is greedy decoding with
// every filter and penalty off; DefaultConfig gives llama.cpp's defaults. The JSON names are
// those of the llama.cpp server and ollama options.
type Config struct {
	// Temperature divides the logits before the draw; <= 0 means greedy (argmax, lowest id on
	// ties, no randomness).
	Temperature float32 `json:"temperature"`
	// TopK keeps the K most likely tokens; 0 disables it.
	TopK int `json:"top_k"`
	// TopP keeps the smallest set of most likely tokens whose probability mass reaches TopP;
	// 0 and 1 disable it. It must lie in [0, 1].
	TopP float32 `json:"top_p"`
	// MinP keeps tokens whose probability is at least MinP times the best token's; 0 disables
	// it. It must lie in [0, 1].
	MinP float32 `json:"min_p"`
	// MinKeep is the fewest candidates TopP and MinP may leave (at least 1 in any case).
	MinKeep int `json:"min_keep"`

	// RepeatPenalty divides the positive logits of recently seen tokens by itself and
	// multiplies their negative logits by it; 0 and 1 disable it. It must not be negative.
	RepeatPenalty float32 `json:"repeat_penalty"`
	// PresencePenalty is subtracted once from the logit of every recently seen token.
	PresencePenalty float32 `json:"presence_penalty"`
	// FrequencyPenalty is subtracted from a recently seen token's logit once per occurrence.
	FrequencyPenalty float32 `json:"frequency_penalty"`
	// RepeatLastN is how many of the last accepted tokens the penalties look at: 0 disables
	// the penalties (so the zero Config has none even with RepeatPenalty set), -1 means the
	// whole history.
	RepeatLastN int `json:"repeat_last_n"`

	// LogitBias is added to the logits of the tokens it names before anything else;
	// float32(math.Inf(-1)) bans a token. Ids beyond the vocabulary are ignored.
	LogitBias map[int32]float32 `json:"logit_bias,omitempty"`

	// Seed seeds the random draws: the same seed and the same logits give the same tokens.
	// A negative seed (RandomSeed) picks a random one. Note that 0 is an ordinary seed.
	Seed int64 `json:"seed"`
}

// DefaultConfig returns llama.cpp's default sampling settings (common_params_sampling):
// temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, penalties off with a window of 64, and a
// random seed.
func DefaultConfig() Config {
	return Config{
		Temperature:   0.8,
		TopK:          40,
		TopP:          0.95,
		MinP:          0.05,
		RepeatPenalty: 1,
		RepeatLastN:   64,
		Seed:          RandomSeed,
	}
}

// Greedy reports whether c picks the most likely token without randomness (Temperature <= 0).
func (c Config) Greedy() bool { return c.Temperature <= 0 }

func finite(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

// Validate reports the first setting of c that is out of range, as an error such as
// "sample: top_p 1.5 outside [0, 1]".
func (c Config) Validate() error {
	switch {
	case !finite(c.Temperature):
		return fmt.Errorf("sample: temperature %v is not a finite number", c.Temperature)
	case c.TopK < 0:
		return fmt.Errorf("sample: top_k %d is negative (0 disables it)", c.TopK)
	case !(c.TopP >= 0 && c.TopP <= 1):
		return fmt.Errorf("sample: top_p %v outside [0, 1]", c.TopP)
	case !(c.MinP >= 0 && c.MinP <= 1):
		return fmt.Errorf("sample: min_p %v outside [0, 1]", c.MinP)
	case c.MinKeep < 0:
		return fmt.Errorf("sample: min_keep %d is negative", c.MinKeep)
	case !finite(c.RepeatPenalty):
		return fmt.Errorf("sample: repeat_penalty %v is not a finite number", c.RepeatPenalty)
	case c.RepeatPenalty < 0:
		return fmt.Errorf("sample: repeat_penalty %v is negative (1 disables it)", c.RepeatPenalty)
	case !finite(c.PresencePenalty):
		return fmt.Errorf("sample: presence_penalty %v is not a finite number", c.PresencePenalty)
	case !finite(c.FrequencyPenalty):
		return fmt.Errorf("sample: frequency_penalty %v is not a finite number", c.FrequencyPenalty)
	case c.RepeatLastN < -1:
		return fmt.Errorf("sample: repeat_last_n %d must be -1 (whole history), 0 (off) or positive",
			c.RepeatLastN)
	}
	// Report bad biases in id order, so that the error does not depend on map order.
	ids := make([]int32, 0, len(c.LogitBias))
	for id := range c.LogitBias {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		b := c.LogitBias[id]
		switch {
		case id < 0:
			return fmt.Errorf("sample: logit_bias token %d is negative", id)
		case math.IsNaN(float64(b)) || math.IsInf(float64(b), 1):
			return fmt.Errorf("sample: logit_bias %v for token %d is not allowed "+
				"(use a finite bias, or -Inf to ban the token)", b, id)
		}
	}
	return nil
}
