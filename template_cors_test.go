package pipetel_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/devgateway"
)

// TestTemplateCORS: the API's CORS configuration is the one make dev's gateway applies,
// with its origins a parameter whose default is the gateway's, and it exposes every
// header the functions set for a page to read.
func TestTemplateCORS(t *testing.T) {
	tp := loadTemplate(t)
	ids := tp.ids(typeHTTPAPI)
	if len(ids) != 1 {
		t.Fatalf("HttpApi resources %v, want one", ids)
	}
	cors := lookup(tp.resource(ids[0]), "Properties", "CorsConfiguration")
	if cors == nil {
		t.Fatal("the HttpApi has no CorsConfiguration: OPTIONS would be a 404 and no page elsewhere could call the API")
	}
	want := devgateway.DefaultCORS
	for _, c := range []struct {
		key       string
		got, want []string
	}{
		{"AllowHeaders", strs(lookup(cors, "AllowHeaders")), want.AllowHeaders},
		{"AllowMethods", strs(lookup(cors, "AllowMethods")), want.AllowMethods},
		{"ExposeHeaders", strs(lookup(cors, "ExposeHeaders")), want.ExposeHeaders},
		{"CorsAllowOrigins' default", []string{scalar(lookup(tp.root, "Parameters", "CorsAllowOrigins", "Default"))}, want.AllowOrigins},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s %v, want %v as devgateway.DefaultCORS", c.key, c.got, c.want)
		}
	}
	if got := scalar(lookup(cors, "MaxAge")); got != strconv.Itoa(int(want.MaxAge/time.Second)) {
		t.Errorf("MaxAge %s, want %v", got, want.MaxAge)
	}
	if got := refTarget(lookup(cors, "AllowOrigins")); got != "CorsAllowOrigins" {
		t.Errorf("AllowOrigins refers to %q, want the CorsAllowOrigins parameter", got)
	}
	if !slices.Contains(want.ExposeHeaders, strings.ToLower(reports.RollupWindowHeader)) {
		t.Errorf("ExposeHeaders %v leave out %s, which stats answers carry", want.ExposeHeaders, reports.RollupWindowHeader)
	}
}
