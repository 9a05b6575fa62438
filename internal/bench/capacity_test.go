package bench

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The proxy asks every read for its consumed capacity and adds up what the answers say;
// writes pass untouched and uncounted.
func TestCapacityProxyCountsReads(t *testing.T) {
	var asked []string
	db := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in map[string]any
		_ = json.Unmarshal(body, &in)
		rc, _ := in["ReturnConsumedCapacity"].(string)
		asked = append(asked, r.Header.Get("X-Amz-Target")+" "+rc)
		switch r.Header.Get("X-Amz-Target") {
		case "DynamoDB_20120810.Query":
			io.WriteString(w, `{"Count":2,"ScannedCount":7,"Items":[],"ConsumedCapacity":{"CapacityUnits":1.5}}`)
		case "DynamoDB_20120810.BatchGetItem":
			io.WriteString(w, `{"Responses":{"t":[{},{},{}]},"ConsumedCapacity":[{"CapacityUnits":2},{"CapacityUnits":1}]}`)
		case "DynamoDB_20120810.GetItem":
			io.WriteString(w, `{"Item":{"pk":{"S":"x"}},"ConsumedCapacity":{"CapacityUnits":0.5}}`)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	defer db.Close()
	p, err := startCapacityProxy(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	for _, op := range []string{"Query", "BatchGetItem", "GetItem", "BatchWriteItem"} {
		req, _ := http.NewRequest(http.MethodPost, p.url, strings.NewReader(`{"TableName":"t"}`))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	want := []string{"DynamoDB_20120810.Query TOTAL", "DynamoDB_20120810.BatchGetItem TOTAL",
		"DynamoDB_20120810.GetItem TOTAL", "DynamoDB_20120810.BatchWriteItem "}
	if strings.Join(asked, ",") != strings.Join(want, ",") {
		t.Errorf("DynamoDB was asked %q, want %q", asked, want)
	}
	if got := p.snapshot(); got != (capacityReads{Calls: 3, Items: 7 + 3 + 1, Units: 1.5 + 3 + 0.5}) {
		t.Errorf("counted %+v", got)
	}
}
