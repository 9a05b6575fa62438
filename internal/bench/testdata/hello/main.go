// Command hello is the cold-start baseline of `make bench`: the least a Go Lambda function
// behind API Gateway can be (aws-lambda-go, one handler answering 200), built with the
// same flags as pipetel's functions and run under the same emulator, so that each
// function's first response is judged against it rather than in milliseconds.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	})
}
