// Package all registers every component type of Open-Stage in the default
// registry. The openstage command imports it; a Go program that wants every
// stage type available to job files imports it too:
//
//	import _ "github.com/open-stage/openstage/components/all"
//
// A program that wants only some imports those packages instead, or builds
// its own openstage.Registry.
package all

import (
	_ "github.com/open-stage/openstage/ai/anthropic" // AnthropicPromptTransformer
	_ "github.com/open-stage/openstage/ai/gemini"    // GeminiPromptTransformer
	_ "github.com/open-stage/openstage/ai/openai"    // OpenAIPromptTransformer
	_ "github.com/open-stage/openstage/bigqueryio"   // GCPBigQueryOrigin, GCPBigQueryDestination
	_ "github.com/open-stage/openstage/csvio"        // CSVOrigin, CSVDestination
	_ "github.com/open-stage/openstage/excelio"      // ExcelOrigin, ExcelDestination
	_ "github.com/open-stage/openstage/jsonio"       // JSONOrigin, JSONDestination
	_ "github.com/open-stage/openstage/parquetio"    // ParquetOrigin, ParquetDestination
	_ "github.com/open-stage/openstage/restio"       // APIRestOrigin, RESTDestination
	_ "github.com/open-stage/openstage/sqlio"        // PostgresOrigin/Destination, MySQL..., SQLite..., SQLOrigin/SQLDestination
	_ "github.com/open-stage/openstage/stages"       // the built-in stages
)
