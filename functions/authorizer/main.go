// Command authorizer is the Lambda authorizer of every route: bearer token → scopes.
package main

import (
	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/app"
)

func main() { app.StartAuthorizer(api.NewAuthorizer) }
