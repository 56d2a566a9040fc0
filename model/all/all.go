// Package all registers every architecture ondo implements. Programs that
// load arbitrary models import it for its side effects:
//
//	import _ "github.com/ondo-ai/ondo/model/all"
package all

import (
	_ "github.com/ondo-ai/ondo/model/llama" // llama, mistral-class files
)
