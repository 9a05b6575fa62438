package devserver

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// lambdaDefaultTimeout is Lambda's (and SAM's) timeout for a function that names none.
const lambdaDefaultTimeout = 3 * time.Second

// FunctionTimeouts reads from a SAM template (template.yaml) the timeout each of functions
// has when deployed: its own Properties.Timeout, else Globals.Function.Timeout, else
// Lambda's default of 3 s. Functions are named by their folder under functions/ ("ingest"),
// whose logical id in the template is "IngestFunction". It fails when a function is not
// in the template or a timeout is not a whole number of seconds above zero.
func FunctionTimeouts(template []byte, functions []string) (map[string]time.Duration, error) {
	type function struct {
		Type       string `yaml:"Type"`
		Properties struct {
			Timeout *int `yaml:"Timeout"`
		} `yaml:"Properties"`
	}
	var doc struct {
		Globals struct {
			Function struct {
				Timeout *int `yaml:"Timeout"`
			} `yaml:"Function"`
		} `yaml:"Globals"`
		Resources map[string]function `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(template, &doc); err != nil {
		return nil, fmt.Errorf("read the template's function timeouts: %w", err)
	}
	timeouts := make(map[string]time.Duration, len(functions))
	for _, name := range functions {
		id := logicalID(name)
		fn, ok := doc.Resources[id]
		if !ok || fn.Type != "AWS::Serverless::Function" {
			return nil, fmt.Errorf("the template has no AWS::Serverless::Function %s for functions/%s", id, name)
		}
		seconds := fn.Properties.Timeout
		if seconds == nil {
			seconds = doc.Globals.Function.Timeout
		}
		timeout := lambdaDefaultTimeout
		if seconds != nil {
			if *seconds <= 0 {
				return nil, fmt.Errorf("the template gives %s a timeout of %d s; want at least 1", id, *seconds)
			}
			timeout = time.Duration(*seconds) * time.Second
		}
		timeouts[name] = timeout
	}
	return timeouts, nil
}

// logicalID is the template's logical id of the function in functions/<name>.
func logicalID(name string) string {
	if name == "" {
		return "Function"
	}
	return strings.ToUpper(name[:1]) + name[1:] + "Function"
}
