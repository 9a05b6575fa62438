// Command web is the Lambda behind GET /, /docs and /openapi.json.
package main

import (
	"github.com/pipetel/pipetel/internal/app"
	"github.com/pipetel/pipetel/internal/web"
)

func main() { app.Start(web.New) }
