// Package pipetel holds the deployment template, template.yaml, so that local runs take
// from it what a deployment takes (each function's timeout) rather than a copy that drifts.
package pipetel

import _ "embed"

// Template is template.yaml, the SAM template that deploys the service.
//
//go:embed template.yaml
var Template []byte
