package pipetel_test

// These tests hold template.yaml to the code it deploys. Nothing else checks the template
// before a deployment, and a mismatch there (a route with no function, a GSI the store
// queries but CloudFormation never made, a policy that lets the reader write) surfaces only
// in production.

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/metrics"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/store"
)

const (
	templateFile    = "template.yaml"
	makefile        = "Makefile"
	eventsTableID   = "EventsTable"
	typeFunction    = "AWS::Serverless::Function"
	typeHTTPAPI     = "AWS::Serverless::HttpApi"
	typeTable       = "AWS::DynamoDB::Table"
	functionSuffix  = "Function"
	gatewayTimeout  = 30 // seconds API Gateway waits for an integration
	listingPath     = "/telemetry"
	ingestMethod    = "POST"
	pipelinesPath   = "/pipelines"
	listingMethod   = "GET"
	specificAttribs = "SPECIFIC_ATTRIBUTES"
)

// logicalID is the SAM logical id of the function in functions/<name>.
func logicalID(name string) string {
	if name == "" {
		return functionSuffix
	}
	return strings.ToUpper(name[:1]) + name[1:] + functionSuffix
}

// functionName is the folder under functions/ of the function with logical id id.
func functionName(id string) string {
	stem := strings.TrimSuffix(id, functionSuffix)
	if stem == "" {
		return ""
	}
	return strings.ToLower(stem[:1]) + stem[1:]
}

func TestTemplateRoutes(t *testing.T) {
	tp := loadTemplate(t)
	served := map[endpoint][]string{}
	for _, ev := range tp.httpEvents() {
		served[ev.endpoint] = append(served[ev.endpoint], ev.function)
		if tp.typeOf(ev.api) != typeHTTPAPI {
			t.Errorf("%s event %s: ApiId must be !Ref to an %s resource, got %q (without it SAM makes an implicit API the outputs do not name)",
				ev.function, ev.name, typeHTTPAPI, ev.api)
		}
	}
	used := map[string]bool{}
	known := map[endpoint]bool{}
	for _, r := range routes.All {
		want := logicalID(r.Function)
		for _, p := range r.Paths() {
			ep := endpoint{r.Method, p}
			known[ep] = true
			got := served[ep]
			switch {
			case len(got) == 0:
				t.Errorf("route %s: no function event in %s serves it; want an HttpApi event on %s", ep, templateFile, want)
			case len(got) > 1:
				t.Errorf("route %s: served by %d function events (%s); want exactly one, on %s", ep, len(got), strings.Join(got, ", "), want)
			case got[0] != want:
				t.Errorf("route %s: served by %s; routes.All names function %q, so want %s", ep, got[0], r.Function, want)
			}
			used[want] = true
		}
	}
	for _, ep := range slices.SortedFunc(maps.Keys(served), endpoint.compare) {
		if !known[ep] {
			t.Errorf("%s serves %s on %s, which routes.All does not list", templateFile, ep, strings.Join(served[ep], ", "))
		}
	}
	for _, id := range tp.ids(typeFunction) {
		if !used[id] && !tp.hasScheduleEvent(id) && id != authorizerID {
			t.Errorf("function %s serves no route of routes.All and has no schedule: remove it or route it", id)
		}
		for name, ev := range pairs(lookup(tp.resource(id), "Properties", "Events")) {
			if typ := scalar(lookup(ev, "Type")); !allowedEventTypes[typ] {
				t.Errorf("function %s event %s has Type %q; routes are served by the HTTP API (HttpApi), jobs by Schedule/ScheduleV2", id, name, typ)
			}
		}
		if slices.ContainsFunc(tp.httpEvents(), func(e httpEvent) bool { return e.function == id }) {
			timeout, err := strconv.Atoi(scalar(tp.functionProp(id, "Timeout")))
			if err != nil || timeout >= gatewayTimeout {
				t.Errorf("function %s: Timeout %q; want a number under API Gateway's %d s so the function, not the gateway, answers a slow request",
					id, scalar(tp.functionProp(id, "Timeout")), gatewayTimeout)
			}
		}
	}
}

var allowedEventTypes = map[string]bool{"HttpApi": true, "Schedule": true, "ScheduleV2": true}

func TestTemplateFunctionBuilds(t *testing.T) {
	tp := loadTemplate(t)
	targets := makeTargets(t)
	for _, id := range tp.ids(typeFunction) {
		name := functionName(id)
		if fi, err := os.Stat(filepath.Join("functions", name, "main.go")); err != nil || fi.IsDir() {
			t.Errorf("function %s: functions/%s/main.go does not exist; the logical id names the folder", id, name)
		}
		if got := scalar(lookup(tp.resource(id), "Metadata", "BuildMethod")); got != "makefile" {
			t.Errorf("function %s: Metadata.BuildMethod is %q; want makefile so sam build runs the Makefile target", id, got)
		}
		if got := scalar(tp.functionProp(id, "Handler")); got != "bootstrap" {
			t.Errorf("function %s: Handler is %q; want bootstrap, the binary the Makefile writes", id, got)
		}
		if got := scalar(tp.functionProp(id, "Runtime")); !strings.HasPrefix(got, "provided.") {
			t.Errorf("function %s: Runtime is %q; want an OS-only runtime (provided.al2023) for a Go binary", id, got)
		}
		arch := strings.Join(strs(tp.functionProp(id, "Architectures")), ",")
		if arch == "" {
			arch = "x86_64" // Lambda's default
		}
		target := "build-" + id
		recipe, ok := targets[target]
		if !ok {
			t.Errorf("function %s: %s has no %s: target, which sam build (BuildMethod: makefile) runs", id, makefile, target)
			continue
		}
		if !regexp.MustCompile(`(^|\s)\./functions/` + regexp.QuoteMeta(name) + `(\s|$)`).MatchString(recipe) {
			t.Errorf("%s: %s does not build ./functions/%s:\n%s", makefile, target, name, recipe)
		}
		if !strings.Contains(recipe, "$(ARTIFACTS_DIR)/bootstrap") {
			t.Errorf("%s: %s does not write $(ARTIFACTS_DIR)/bootstrap, where sam build collects the artefact:\n%s", makefile, target, recipe)
		}
		m := regexp.MustCompile(`GOARCH=(\S+)`).FindStringSubmatch(recipe)
		switch {
		case m == nil:
			t.Errorf("%s: %s does not set GOARCH, so it builds for whatever machine runs sam build:\n%s", makefile, target, recipe)
		case lambdaArch[m[1]] != arch:
			t.Errorf("function %s: Architectures %s, but %s builds GOARCH=%s; the binary would not start", id, arch, target, m[1])
		}
	}
}

// lambdaArch maps GOARCH to Lambda's name for it.
var lambdaArch = map[string]string{"arm64": "arm64", "amd64": "x86_64"}

func TestTemplateEventsTable(t *testing.T) {
	checkTable(t, loadTemplate(t), eventsTableID, store.EventsTableInput("events"), true)
}

// checkTable holds the table resource id to the definition the store creates (want): its
// billing, attributes, keys and indexes, TTL on the store's expiry attribute when
// withTTL (and none otherwise), point-in-time recovery, deletion protection, encryption,
// and a Retain policy.
func checkTable(t *testing.T, tp tmpl, id string, want *dynamodb.CreateTableInput, withTTL bool) {
	t.Helper()
	table := tp.resource(id)
	if got := tp.typeOf(id); got != typeTable {
		t.Fatalf("%s: resource %s has type %q; want %s (SimpleTable cannot declare GSIs or TTL)", templateFile, id, got, typeTable)
	}
	props := lookup(table, "Properties")

	if got := scalar(lookup(props, "BillingMode")); got != string(want.BillingMode) {
		t.Errorf("%s.BillingMode = %q; store wants %q", id, got, want.BillingMode)
	}

	gotAttrs := map[string]string{}
	for _, a := range items(lookup(props, "AttributeDefinitions")) {
		gotAttrs[scalar(lookup(a, "AttributeName"))] = scalar(lookup(a, "AttributeType"))
	}
	wantAttrs := map[string]string{}
	for _, a := range want.AttributeDefinitions {
		wantAttrs[aws.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	compareMaps(t, id+".AttributeDefinitions", "type", gotAttrs, wantAttrs)

	compareKeySchema(t, id+".KeySchema", templateKeySchema(lookup(props, "KeySchema")), storeKeySchema(want.KeySchema))

	gotGSIs := map[string]*yaml.Node{}
	for _, g := range items(lookup(props, "GlobalSecondaryIndexes")) {
		gotGSIs[scalar(lookup(g, "IndexName"))] = g
	}
	wantGSIs := map[string]bool{}
	for _, w := range want.GlobalSecondaryIndexes {
		name := aws.ToString(w.IndexName)
		wantGSIs[name] = true
		g, ok := gotGSIs[name]
		if !ok {
			t.Errorf("%s: GSI %s is missing; the store queries it", id, name)
			continue
		}
		what := fmt.Sprintf("%s GSI %s", id, name)
		compareKeySchema(t, what+" KeySchema", templateKeySchema(lookup(g, "KeySchema")), storeKeySchema(w.KeySchema))
		if got := scalar(lookup(g, "Projection", "ProjectionType")); got != string(w.Projection.ProjectionType) {
			t.Errorf("%s: ProjectionType %q; store wants %q", what, got, w.Projection.ProjectionType)
		}
		if got, want := strs(lookup(g, "Projection", "NonKeyAttributes")), w.Projection.NonKeyAttributes; !slices.Equal(got, want) {
			t.Errorf("%s: NonKeyAttributes %q; store wants %q", what, got, want)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(gotGSIs)) {
		if !wantGSIs[name] {
			t.Errorf("%s: GSI %s is not in the store's table definition; every GSI costs a write per item", id, name)
		}
	}
	if n := len(items(lookup(props, "LocalSecondaryIndexes"))); n != len(want.LocalSecondaryIndexes) {
		t.Errorf("%s: %d local secondary indexes; store has %d", id, n, len(want.LocalSecondaryIndexes))
	}

	flags := [][]string{
		{"PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"},
		{"DeletionProtectionEnabled"},
		{"SSESpecification", "SSEEnabled"},
	}
	if withTTL {
		if got := scalar(lookup(props, "TimeToLiveSpecification", "AttributeName")); got != store.AttrExpiresAt {
			t.Errorf("%s: TTL attribute %q; store writes expiry to %q", id, got, store.AttrExpiresAt)
		}
		flags = append(flags, []string{"TimeToLiveSpecification", "Enabled"})
	} else if lookup(props, "TimeToLiveSpecification") != nil {
		t.Errorf("%s has TTL: its items are kept until deleted", id)
	}
	for _, flag := range flags {
		if !isTrue(lookup(props, flag...)) {
			t.Errorf("%s: %s is not true", id, strings.Join(flag, "."))
		}
	}
	for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if got := scalar(lookup(table, policy)); got != "Retain" {
			t.Errorf("%s: %s is %q; want Retain so removing or replacing the stack keeps the data", id, policy, got)
		}
	}
}

func TestTemplateEnvironment(t *testing.T) {
	tp := loadTemplate(t)
	known := map[string]bool{}
	for _, v := range config.Variables {
		known[v] = true
	}
	for _, id := range tp.ids(typeFunction) {
		env := tp.environment(id)
		for _, name := range slices.Sorted(maps.Keys(env)) {
			switch {
			case strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "_"):
				t.Errorf("function %s sets %s: Lambda reserves it and sets it itself", id, name)
			case name == config.EnvDynamoEndpoint:
				t.Errorf("function %s sets %s, which points the store at DynamoDB Local; a deployment uses the regional endpoint", id, name)
			case !known[name]:
				t.Errorf("function %s sets %s, which config.Variables does not list, so nothing reads it", id, name)
			}
		}
		if v, ok := env[config.EnvEventsTable]; !ok {
			t.Errorf("function %s: %s is not set; config.Load refuses to start without it", id, config.EnvEventsTable)
		} else if refTarget(v) != eventsTableID {
			t.Errorf("function %s: %s is %s; want !Ref %s", id, config.EnvEventsTable, describe(v), eventsTableID)
		}
		if secret, ok := env[config.EnvCursorSecret]; ok {
			param := refTarget(secret)
			if !isTrue(lookup(tp.root, "Parameters", param, "NoEcho")) {
				t.Errorf("function %s: %s must be !Ref to a NoEcho parameter, not %q, so the key never shows in the template or console events",
					id, config.EnvCursorSecret, describe(secret))
			}
		}
	}
	for _, id := range tp.functionsServing(listingMethod, listingPath) {
		if _, ok := tp.environment(id)[config.EnvCursorSecret]; !ok {
			t.Errorf("function %s serves %s %s and signs its page cursors, but %s is not set", id, listingMethod, listingPath, config.EnvCursorSecret)
		}
	}
}

// DynamoDB actions grouped by what they let a principal do. ExecuteStatement and friends
// (PartiQL) both read and write, so they sit in both lists.
var (
	dynamoReads = []string{
		"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
		"dynamodb:TransactGetItems", "dynamodb:PartiQLSelect", "dynamodb:ExecuteStatement",
		"dynamodb:BatchExecuteStatement", "dynamodb:ExecuteTransaction", "dynamodb:GetRecords",
		"dynamodb:ExportTableToPointInTime",
	}
	// What a reader must not do: change data, or Scan, which no request path may use.
	dynamoReaderForbidden = []string{
		"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
		"dynamodb:TransactWriteItems", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate",
		"dynamodb:PartiQLDelete", "dynamodb:ExecuteStatement", "dynamodb:BatchExecuteStatement",
		"dynamodb:ExecuteTransaction", "dynamodb:ImportTable", "dynamodb:RestoreTableFromBackup",
		"dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable", "dynamodb:Scan",
	}
)

const (
	batchGet   = "dynamodb:BatchGetItem"
	updateItem = "dynamodb:UpdateItem"
	putItem    = "dynamodb:PutItem"
	batchWrite = "dynamodb:BatchWriteItem"
)

func TestTemplatePolicies(t *testing.T) {
	tp := loadTemplate(t)
	table := "${" + eventsTableID + ".Arn}"
	policies := map[string][]statement{}
	for _, id := range tp.ids(typeFunction) {
		policies[id] = tp.statements(t, id)
		for _, st := range policies[id] {
			if st.effect == "Allow" && slices.Contains(st.resources, "*") {
				t.Errorf("function %s statement %s: Resource \"*\"; scope it to the table", id, st.sid)
			}
		}
	}

	// Every POST route ingests (events, pipeline runs), so each is held to ingest's rights.
	for _, id := range tp.functionsWithMethod(ingestMethod) {
		sts := policies[id]
		for _, st := range sts {
			for _, action := range st.grants(dynamoReads) {
				if action == batchGet {
					if why := keysOnly(st.condition); why != "" {
						t.Errorf("function %s statement %s allows %s without restricting it to key attributes: %s", id, st.sid, action, why)
					}
					continue
				}
				t.Errorf("function %s (ingest) statement %s allows %s; ingest may not read events", id, st.sid, action)
			}
			if len(st.grants([]string{updateItem, batchWrite})) > 0 && slices.Equal(st.resources, []string{summaryTableArn}) {
				if why := staleMarksOnly(st.condition); why != "" {
					t.Errorf("function %s (ingest) statement %s allows %v beyond the staleness marks: %s", id, st.sid, st.grants([]string{updateItem, batchWrite}), why)
				}
			} else if len(st.grants([]string{updateItem})) > 0 {
				if why := dayRegistryOnly(st.condition); why != "" {
					t.Errorf("function %s (ingest) statement %s allows %s beyond the day registry: %s", id, st.sid, updateItem, why)
				}
			}
		}
		if !allows(sts, batchWrite, table) {
			t.Errorf("function %s (ingest) may not dynamodb:BatchWriteItem on %s; it could not store events", id, eventsTableID)
		}
		if !allows(sts, batchWrite, summaryTableArn) {
			t.Errorf("function %s (ingest) may not dynamodb:BatchWriteItem on %s; it could not mark the rollup units of what it stores", id, summaryTableID)
		}
		// PutItem is for id guards (the conditional claim of a client's id) and, for POST
		// /pipelines, run markers: anywhere else it could overwrite events.
		marks := slices.Contains(tp.functionsServing(ingestMethod, pipelinesPath), id)
		puts := []string{store.GuardPrefix + "*"}
		if marks {
			puts = append(puts, store.RunMarkerPrefix+"*")
		}
		claims := false
		for _, st := range sts {
			if len(st.grants([]string{putItem})) == 0 {
				continue
			}
			if why := putsOnlyUnder(st.condition, puts); why != "" {
				t.Errorf("function %s statement %s allows %s beyond %v: %s", id, st.sid, putItem, puts, why)
			}
			claims = claims || slices.Contains(strs(lookup(st.condition, "ForAllValues:StringLike", "dynamodb:LeadingKeys")), store.GuardPrefix+"*")
		}
		if !claims || !allows(sts, putItem, table) {
			t.Errorf("function %s (ingest) may not %s on %s under %s*; it could not claim the ids clients give", id, putItem, eventsTableID, store.GuardPrefix)
		}
	}

	// A GET is safe by HTTP's contract, so no function behind one may change data; this
	// covers read routes added later, not only the listing.
	for _, id := range tp.functionsWithMethod(listingMethod) {
		for _, st := range policies[id] {
			for _, action := range st.grants(dynamoReaderForbidden) {
				t.Errorf("function %s serves GET routes, but statement %s allows %s; a read path may not write or scan", id, st.sid, action)
			}
		}
	}

	want := []string{table}
	for _, g := range store.EventsTableInput("events").GlobalSecondaryIndexes {
		want = append(want, table+"/index/"+aws.ToString(g.IndexName))
	}
	for _, id := range tp.functionsServing(listingMethod, listingPath) {
		for _, res := range want {
			if !allows(policies[id], "dynamodb:Query", res) {
				t.Errorf("function %s (query) may not dynamodb:Query %s; the store queries it", id, res)
			}
		}
	}
}

// keysOnly explains what is missing from condition for a read to return nothing but the
// key attributes; "" when nothing is.
func keysOnly(condition *yaml.Node) string {
	attrs := strs(lookup(condition, "ForAllValues:StringEquals", "dynamodb:Attributes"))
	keys := store.ProbeAttributes
	if len(attrs) == 0 {
		return fmt.Sprintf("no ForAllValues:StringEquals on dynamodb:Attributes %q", keys)
	}
	for _, a := range attrs {
		if !slices.Contains(keys, a) {
			return fmt.Sprintf("dynamodb:Attributes allows %q, which is not one of the probe's attributes %q", a, keys)
		}
	}
	for _, op := range []string{"StringEquals", "StringEqualsIfExists"} {
		if slices.Equal(strs(lookup(condition, op, "dynamodb:Select")), []string{specificAttribs}) {
			return ""
		}
	}
	return fmt.Sprintf("no dynamodb:Select %s condition, so a request without a projection reads whole items", specificAttribs)
}

// dayRegistryOnly explains what is missing from condition for an update to touch only
// the day registry and return nothing; "" when nothing is.
func dayRegistryOnly(condition *yaml.Node) string {
	want := []string{store.DayRegistryPK}
	if got := strs(lookup(condition, "ForAllValues:StringEquals", "dynamodb:LeadingKeys")); !slices.Equal(got, want) {
		return fmt.Sprintf("ForAllValues:StringEquals dynamodb:LeadingKeys is %q; want %q", got, want)
	}
	for _, op := range []string{"StringEquals", "StringEqualsIfExists"} {
		if slices.Equal(strs(lookup(condition, op, "dynamodb:ReturnValues")), []string{"NONE"}) {
			return ""
		}
	}
	return "no dynamodb:ReturnValues NONE condition, so an update could return the item it changed"
}

// putsOnlyUnder explains what is missing from condition for a put to touch only items
// whose partition keys match one of prefixes (each ending in *), or "" when nothing is.
func putsOnlyUnder(condition *yaml.Node, prefixes []string) string {
	got := strs(lookup(condition, "ForAllValues:StringLike", "dynamodb:LeadingKeys"))
	if len(got) == 0 {
		return fmt.Sprintf("no ForAllValues:StringLike dynamodb:LeadingKeys; want some of %q", prefixes)
	}
	for _, k := range got {
		if !slices.Contains(prefixes, k) {
			return fmt.Sprintf("ForAllValues:StringLike dynamodb:LeadingKeys holds %q; want only %q", k, prefixes)
		}
	}
	for _, op := range []string{"StringEquals", "StringEqualsIfExists"} {
		if slices.Equal(strs(lookup(condition, op, "dynamodb:ReturnValues")), []string{"NONE"}) {
			return ""
		}
	}
	return "no dynamodb:ReturnValues NONE condition, so a put could return the item it replaced"
}

// allows reports whether an Allow statement among sts grants action on resource, a
// canonical resource string as statement.resources holds.
func allows(sts []statement, action, resource string) bool {
	for _, st := range sts {
		if st.effect == "Allow" && slices.Contains(st.grants([]string{action}), action) &&
			slices.ContainsFunc(st.resources, func(r string) bool { return wildcardMatch(r, resource) }) {
			return true
		}
	}
	return false
}

// ---- template.yaml, navigated -----------------------------------------------------------

type tmpl struct {
	root *yaml.Node // the top-level mapping
}

func loadTemplate(t *testing.T) tmpl {
	t.Helper()
	data, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", templateFile, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("%s: want one YAML document holding a mapping", templateFile)
	}
	if dup := duplicateKey(doc.Content[0]); dup != "" {
		// yaml.Node keeps both; CloudFormation refuses the template, or a lookup would
		// read only the first (a second Environment block would be lost).
		t.Fatalf("%s: %s", templateFile, dup)
	}
	return tmpl{root: doc.Content[0]}
}

// duplicateKey names the first key that appears twice in one mapping of n, or is "".
func duplicateKey(n *yaml.Node) string {
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if line, ok := seen[k.Value]; ok {
				return fmt.Sprintf("key %q at line %d is already at line %d of the same mapping", k.Value, k.Line, line)
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if dup := duplicateKey(c); dup != "" {
			return dup
		}
	}
	return ""
}

func (tp tmpl) resource(id string) *yaml.Node { return lookup(tp.root, "Resources", id) }

func (tp tmpl) typeOf(id string) string { return scalar(lookup(tp.resource(id), "Type")) }

// ids lists the logical ids of the resources of type typ, sorted.
func (tp tmpl) ids(typ string) []string {
	var ids []string
	for id, r := range pairs(lookup(tp.root, "Resources")) {
		if scalar(lookup(r, "Type")) == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// functionProp is the property key of function id as SAM resolves it: the function's own,
// else the one from Globals.
func (tp tmpl) functionProp(id, key string) *yaml.Node {
	if n := lookup(tp.resource(id), "Properties", key); n != nil {
		return n
	}
	return lookup(tp.root, "Globals", "Function", key)
}

// environment is the variables of function id: SAM merges Globals' map with the
// function's, the function winning.
func (tp tmpl) environment(id string) map[string]*yaml.Node {
	env := map[string]*yaml.Node{}
	for _, scope := range []*yaml.Node{lookup(tp.root, "Globals", "Function"), lookup(tp.resource(id), "Properties")} {
		for name, v := range pairs(lookup(scope, "Environment", "Variables")) {
			env[name] = v
		}
	}
	return env
}

type endpoint struct{ method, path string }

func (e endpoint) String() string { return e.method + " " + e.path }

func (e endpoint) compare(o endpoint) int { return strings.Compare(e.String(), o.String()) }

type httpEvent struct {
	function, name, api string
	endpoint
}

// httpEvents lists the HttpApi events of every function.
func (tp tmpl) httpEvents() []httpEvent {
	var evs []httpEvent
	for _, id := range tp.ids(typeFunction) {
		for name, ev := range pairs(lookup(tp.resource(id), "Properties", "Events")) {
			if scalar(lookup(ev, "Type")) != "HttpApi" {
				continue
			}
			p := lookup(ev, "Properties")
			evs = append(evs, httpEvent{
				function: id,
				name:     name,
				api:      refTarget(lookup(p, "ApiId")),
				endpoint: endpoint{strings.ToUpper(scalar(lookup(p, "Method"))), scalar(lookup(p, "Path"))},
			})
		}
	}
	return evs
}

// functionsServing lists the functions with an HttpApi event on method and path, with or
// without the /latest prefix.
func (tp tmpl) functionsServing(method, path string) []string {
	var ids []string
	for _, ev := range tp.httpEvents() {
		if ev.method == method && (ev.path == path || ev.path == api.LatestPrefix+path || ev.path == api.V0Prefix+path) && !slices.Contains(ids, ev.function) {
			ids = append(ids, ev.function)
		}
	}
	return ids
}

// functionsWithMethod lists the functions with an HttpApi event on method.
func (tp tmpl) functionsWithMethod(method string) []string {
	var ids []string
	for _, ev := range tp.httpEvents() {
		if ev.method == method && !slices.Contains(ids, ev.function) {
			ids = append(ids, ev.function)
		}
	}
	return ids
}

func (tp tmpl) hasScheduleEvent(id string) bool {
	for _, ev := range pairs(lookup(tp.resource(id), "Properties", "Events")) {
		if typ := scalar(lookup(ev, "Type")); typ == "Schedule" || typ == "ScheduleV2" {
			return true
		}
	}
	return false
}

// statement is one IAM policy statement with its resources in canonical form: ARNs built
// by intrinsics are written as in !Sub ("${EventsTable.Arn}/index/by_kind").
type statement struct {
	sid, effect string
	actions     []string
	resources   []string
	condition   *yaml.Node
}

// grants returns the actions of candidates that st allows.
func (st statement) grants(candidates []string) []string {
	if st.effect != "Allow" {
		return nil
	}
	var out []string
	for _, c := range candidates {
		if slices.ContainsFunc(st.actions, func(a string) bool { return wildcardMatch(strings.ToLower(a), strings.ToLower(c)) }) {
			out = append(out, c)
		}
	}
	return out
}

// statements returns the IAM statements of function id. Anything whose permissions cannot
// be read from the template (a SAM policy template, a managed policy, a role of its own,
// NotAction) is reported, so least privilege cannot be dodged by moving it out of sight.
func (tp tmpl) statements(t *testing.T, id string) []statement {
	t.Helper()
	if role := tp.functionProp(id, "Role"); role != nil {
		t.Errorf("function %s: sets Role %q; give it Policies with explicit statements so they can be checked", id, describe(role))
	}
	var out []statement
	for i, pol := range items(lookup(tp.resource(id), "Properties", "Policies")) {
		sts := lookup(pol, "Statement")
		if sts == nil {
			t.Errorf("function %s: policy %d (%s) is not a policy document; write explicit statements, not SAM policy templates or managed policies",
				id, i, describe(pol))
			continue
		}
		for j, s := range items(sts) {
			st := statement{
				sid:       scalar(lookup(s, "Sid")),
				effect:    scalar(lookup(s, "Effect")),
				actions:   strs(lookup(s, "Action")),
				condition: lookup(s, "Condition"),
			}
			if st.sid == "" {
				st.sid = fmt.Sprintf("#%d.%d", i, j)
			}
			for _, r := range items(lookup(s, "Resource")) {
				st.resources = append(st.resources, canonicalResource(r))
			}
			if lookup(s, "NotAction") != nil || lookup(s, "NotResource") != nil {
				t.Errorf("function %s statement %s: NotAction/NotResource grants everything else; list what is allowed", id, st.sid)
			}
			out = append(out, st)
		}
	}
	return out
}

// wildcardMatch matches IAM wildcards (* and ?) in pattern against s.
func wildcardMatch(pattern, s string) bool {
	// path.Match's * stops at '/', IAM's does not; no other character of ARNs or action
	// names is special to it.
	const slash = "\x00"
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", slash), strings.ReplaceAll(s, "/", slash))
	return err == nil && ok
}

// ---- yaml.Node helpers --------------------------------------------------------------------

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// lookup follows mapping keys from n; nil when any is missing.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = resolve(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return resolve(n)
}

// pairs yields the keys and values of a mapping, in document order.
func pairs(n *yaml.Node) func(yield func(string, *yaml.Node) bool) {
	return func(yield func(string, *yaml.Node) bool) {
		n = resolve(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i].Value, resolve(n.Content[i+1])) {
				return
			}
		}
	}
}

// items is the elements of a sequence, or n alone: IAM and CloudFormation accept a single
// value wherever they accept a list.
func items(n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.SequenceNode && intrinsic(n) == "":
		out := make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			out[i] = resolve(c)
		}
		return out
	default:
		return []*yaml.Node{n}
	}
}

// scalar is n's value when it is a plain scalar, else "".
func scalar(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || intrinsic(n) != "" {
		return ""
	}
	return n.Value
}

// strs is the scalar values of items(n).
func strs(n *yaml.Node) []string {
	var out []string
	for _, c := range items(n) {
		out = append(out, scalar(c))
	}
	return out
}

func isTrue(n *yaml.Node) bool { return strings.EqualFold(scalar(n), "true") }

// intrinsic names the CloudFormation function n applies, in long form ("Ref",
// "Fn::GetAtt"), whether written as a short-form tag (!GetAtt) or as a one-key mapping
// ({"Fn::GetAtt": ...}); "" when n is plain data.
func intrinsic(n *yaml.Node) string {
	switch {
	case n == nil:
		return ""
	case n.Tag == "!Ref":
		return "Ref"
	case strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!"):
		return "Fn::" + n.Tag[1:]
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		if k := n.Content[0].Value; k == "Ref" || strings.HasPrefix(k, "Fn::") {
			return k
		}
	}
	return ""
}

// intrinsicArg is the argument of the intrinsic function n applies.
func intrinsicArg(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		return resolve(n.Content[1])
	}
	plain := *n
	plain.Tag = ""
	return &plain
}

// refTarget is the logical id or parameter n refers to with Ref, else "".
func refTarget(n *yaml.Node) string {
	n = resolve(n)
	if intrinsic(n) != "Ref" {
		return ""
	}
	return scalar(intrinsicArg(n))
}

// canonicalResource writes a Resource entry as the string !Sub would take: plain ARNs
// as they are, !GetAtt X.Arn as ${X.Arn}, !Ref X as ${X}.
func canonicalResource(n *yaml.Node) string {
	arg := func() *yaml.Node { return intrinsicArg(n) }
	switch intrinsic(n) {
	case "":
		return scalar(n)
	case "Ref":
		return "${" + scalar(arg()) + "}"
	case "Fn::GetAtt":
		return "${" + strings.Join(strs(arg()), ".") + "}"
	case "Fn::Sub":
		if a := arg(); a.Kind == yaml.SequenceNode && len(a.Content) > 0 {
			return scalar(a.Content[0])
		}
		return scalar(arg())
	}
	return describe(n)
}

// describe renders n for a message.
func describe(n *yaml.Node) string {
	out, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Sprint(err)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// ---- key schemas and maps -----------------------------------------------------------------

type keyElem struct{ name, keyType string }

func templateKeySchema(n *yaml.Node) []keyElem {
	var out []keyElem
	for _, e := range items(n) {
		out = append(out, keyElem{scalar(lookup(e, "AttributeName")), scalar(lookup(e, "KeyType"))})
	}
	return out
}

func storeKeySchema(ks []types.KeySchemaElement) []keyElem {
	var out []keyElem
	for _, e := range ks {
		out = append(out, keyElem{aws.ToString(e.AttributeName), string(e.KeyType)})
	}
	return out
}

func compareKeySchema(t *testing.T, what string, got, want []keyElem) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d elements %v; store has %d %v", what, len(got), got, len(want), want)
		return
	}
	for i := range want {
		if got[i].name != want[i].name {
			t.Errorf("%s[%d]: AttributeName %q; store has %q", what, i, got[i].name, want[i].name)
		}
		if got[i].keyType != want[i].keyType {
			t.Errorf("%s[%d] (%s): KeyType %q; store has %q", what, i, want[i].name, got[i].keyType, want[i].keyType)
		}
	}
}

// compareMaps reports each key missing from got, extra in got, or with another value.
func compareMaps(t *testing.T, what, valueName string, got, want map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: %s is missing; store has it with %s %q", what, k, valueName, want[k])
		case g != want[k]:
			t.Errorf("%s: %s has %s %q; store has %q", what, k, valueName, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s is not in the store's schema (CloudFormation refuses definitions no key uses)", what, k)
		}
	}
}

// ---- Makefile -----------------------------------------------------------------------------

var ruleLine = regexp.MustCompile(`^([^\s:=#]+)\s*:([^=]|$)`)

// makeTargets maps each explicit target of the Makefile to its recipe.
func makeTargets(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{}
	current := ""
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "\t") && current != "":
			targets[current] += strings.TrimSpace(line) + "\n"
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			// Blank lines and comments do not end a recipe.
		default:
			current = ""
			if m := ruleLine.FindStringSubmatch(line); m != nil {
				current = m[1]
				targets[current] += ""
			}
		}
	}
	return targets
}

// ---- the summary table and the rollup ----------------------------------------------------

const (
	summaryTableID  = "SummaryTable"
	summaryTableArn = "${" + summaryTableID + ".Arn}"
	defaultBusArn   = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
	rollupID        = "RollupFunction"
)

// staleMarksOnly explains what is missing from condition for an update to touch only
// staleness marks and return nothing; "" when nothing is.
func staleMarksOnly(condition *yaml.Node) string {
	want := []string{store.MarkPrefix + "*"}
	if got := strs(lookup(condition, "ForAllValues:StringLike", "dynamodb:LeadingKeys")); !slices.Equal(got, want) {
		return fmt.Sprintf("ForAllValues:StringLike dynamodb:LeadingKeys is %q; want %q", got, want)
	}
	for _, op := range []string{"StringEquals", "StringEqualsIfExists"} {
		if slices.Equal(strs(lookup(condition, op, "dynamodb:ReturnValues")), []string{"NONE"}) {
			return ""
		}
	}
	return "no dynamodb:ReturnValues NONE condition, so an update could return the item it changed"
}

// TestTemplateSummaryTable: the summary table is the one store.SummaryTableInput defines,
// with TTL on expires_at and the protections of the events table, and every function is
// told its name.
func TestTemplateSummaryTable(t *testing.T) {
	tp := loadTemplate(t)
	checkTable(t, tp, summaryTableID, store.SummaryTableInput("summary"), true)
	for _, id := range tp.ids(typeFunction) {
		if v, ok := tp.environment(id)[config.EnvSummaryTable]; !ok || refTarget(v) != summaryTableID {
			t.Errorf("function %s: %s is not !Ref %s", id, config.EnvSummaryTable, summaryTableID)
		}
	}
}

// ---- alarms --------------------------------------------------------------------------------

const (
	typeAlarm    = "AWS::CloudWatch::Alarm"
	typeTopic    = "AWS::SNS::Topic"
	webFunction  = "web"
	lambdaNS     = "AWS/Lambda"
	apiGatewayNS = "AWS/ApiGateway"
)

// alarm is what an operator is told of: a metric of one resource crossing a threshold.
type alarm struct {
	id, namespace, metric, dimension, target string
	notifies                                 bool
	why                                      string // what makes it unable to fire or to be heard; "" if nothing
}

func (tp tmpl) alarms() []alarm {
	var out []alarm
	for _, id := range tp.ids(typeAlarm) {
		p := lookup(tp.resource(id), "Properties")
		a := alarm{id: id, namespace: scalar(lookup(p, "Namespace")), metric: scalar(lookup(p, "MetricName"))}
		if dims := items(lookup(p, "Dimensions")); len(dims) == 1 {
			a.dimension = scalar(lookup(dims[0], "Name"))
			a.target = refTarget(lookup(dims[0], "Value"))
		}
		for _, action := range items(lookup(p, "AlarmActions")) {
			if tp.typeOf(refTarget(action)) == typeTopic {
				a.notifies = true
			}
		}
		threshold, err := strconv.ParseFloat(scalar(lookup(p, "Threshold")), 64)
		op := scalar(lookup(p, "ComparisonOperator"))
		switch {
		case a.namespace != lambdaNS && a.namespace != apiGatewayNS:
			// Not an error count: held by its own test (TestTemplateRollupLagAlarm).
		case err != nil || !(op == "GreaterThanOrEqualToThreshold" && threshold <= 1 || op == "GreaterThanThreshold" && threshold < 1):
			a.why = fmt.Sprintf("fires on %s %q, not on the first error", op, scalar(lookup(p, "Threshold")))
		case scalar(lookup(p, "Statistic")) != "Sum":
			a.why = fmt.Sprintf("Statistic %q; want Sum, so one error in a period counts", scalar(lookup(p, "Statistic")))
		case scalar(lookup(p, "TreatMissingData")) != "notBreaching":
			a.why = "TreatMissingData is not notBreaching: a function nobody calls has no data points, and that is not trouble"
		}
		out = append(out, a)
	}
	return out
}

// TestTemplateAlarms: every function has an alarm on its errors and on its throttles,
// the API one on its 5xx answers, and each alarm can fire and tells an SNS topic.
func TestTemplateAlarms(t *testing.T) {
	tp := loadTemplate(t)
	alarms := tp.alarms()
	has := func(namespace, metric, dimension, target string) bool {
		return slices.ContainsFunc(alarms, func(a alarm) bool {
			return a.namespace == namespace && a.metric == metric && a.dimension == dimension && a.target == target
		})
	}
	for _, id := range tp.ids(typeFunction) {
		for _, metric := range []string{"Errors", "Throttles"} {
			if !has(lambdaNS, metric, "FunctionName", id) {
				t.Errorf("function %s has no %s alarm on %s %s (Dimensions FunctionName: !Ref %s)", id, typeAlarm, lambdaNS, metric, id)
			}
		}
	}
	for _, id := range tp.ids(typeHTTPAPI) {
		if !has(apiGatewayNS, "5xx", "ApiId", id) {
			t.Errorf("API %s has no alarm on its 5xx answers (%s 5xx, Dimensions ApiId: !Ref %s)", id, apiGatewayNS, id)
		}
	}
	for _, a := range alarms {
		if !a.notifies {
			t.Errorf("alarm %s: no AlarmActions !Ref to an %s, so nobody hears it", a.id, typeTopic)
		}
		if a.why != "" {
			t.Errorf("alarm %s: %s", a.id, a.why)
		}
		if a.target == "" || tp.resource(a.target) == nil {
			t.Errorf("alarm %s: its one dimension must be !Ref to a resource of this template, got %q", a.id, a.target)
		}
	}
}

// TestTemplateRollup: the rollup runs every minute; it may read the events table and
// read and write the summary table, nothing else; the readers of rollups may only query it.
func TestTemplateRollup(t *testing.T) {
	tp := loadTemplate(t)
	if tp.typeOf(rollupID) != typeFunction {
		t.Fatalf("%s: no %s function", templateFile, rollupID)
	}
	var rates []string
	for _, ev := range pairs(lookup(tp.resource(rollupID), "Properties", "Events")) {
		rates = append(rates, scalar(lookup(ev, "Properties", "Schedule")))
	}
	if !slices.Equal(rates, []string{"rate(1 minute)"}) {
		t.Errorf("%s schedules %q; want one schedule, rate(1 minute)", rollupID, rates)
	}
	events := "${" + eventsTableID + ".Arn}"
	sts := tp.statements(t, rollupID)
	for _, st := range sts {
		for _, r := range st.resources {
			if r == defaultBusArn && slices.Equal(st.actions, []string{"events:PutEvents"}) {
				continue
			}
			if r != events && r != summaryTableArn {
				t.Errorf("%s statement %s: resource %s; the rollup touches the events and summary tables only", rollupID, st.sid, r)
			}
			if r == events {
				for _, action := range st.grants(dynamoReaderForbidden) {
					t.Errorf("%s statement %s allows %s on the events table; the rollup only reads it", rollupID, st.sid, action)
				}
			}
		}
	}
	for _, action := range []string{"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
		"dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:TransactWriteItems"} {
		if !allows(sts, action, summaryTableArn) {
			t.Errorf("%s may not %s on %s; the summary store uses it", rollupID, action, summaryTableID)
		}
	}
	if !allows(sts, "dynamodb:Query", events) {
		t.Errorf("%s may not dynamodb:Query %s; it reads the raw events of each unit", rollupID, eventsTableID)
	}
	// Alerts: PutEvents on the default bus, the bus ALERT_BUS names, and nothing else.
	if !allows(sts, "events:PutEvents", defaultBusArn) {
		t.Errorf("%s may not events:PutEvents on %s; it publishes alerts there", rollupID, defaultBusArn)
	}
	if bus := scalar(tp.environment(rollupID)[config.EnvAlertBus]); bus != "default" {
		t.Errorf("%s: %s is %q; want default, the bus its policy allows", rollupID, config.EnvAlertBus, bus)
	}
	for _, id := range tp.functionsServing(listingMethod, "/telemetry/summary") {
		sts := tp.statements(t, id)
		if !allows(sts, "dynamodb:Query", summaryTableArn) {
			t.Errorf("function %s (GET /telemetry/summary) may not dynamodb:Query %s; it reads the snapshots", id, summaryTableID)
		}
		for _, st := range sts {
			if !slices.Equal(st.resources, []string{summaryTableArn}) {
				t.Errorf("function %s statement %s: resources %q; the summary reads the summary table only", id, st.sid, st.resources)
			}
		}
	}
	for _, path := range []string{"/telemetry/stats", "/telemetry/anomalies", "/telemetry"} {
		for _, id := range tp.functionsServing(listingMethod, path) {
			if !allows(tp.statements(t, id), "dynamodb:Query", summaryTableArn) {
				t.Errorf("function %s (GET %s) may not dynamodb:Query %s; it reads rollups", id, path, summaryTableID)
			}
		}
	}
}

// TestTemplateWebFunctionHasNoDataAccess: the pages are embedded and the browser reads the
// data through the API's own routes, so the function serving them may touch no table.
func TestTemplateWebFunctionHasNoDataAccess(t *testing.T) {
	tp := loadTemplate(t)
	id := logicalID(webFunction)
	if tp.resource(id) == nil {
		t.Fatalf("%s: no %s", templateFile, id)
	}
	for _, st := range tp.statements(t, id) {
		t.Errorf("function %s statement %s allows %v; it serves embedded files and needs no permission", id, st.sid, st.actions)
	}
}

// TestTemplateRollupLagAlarm: an alarm watches the lag the rollup logs in embedded metric
// format (the very namespace, name and dimension rollup.LagEMF writes), fires when the
// rollup stops reporting, and is heard.
func TestTemplateRollupLagAlarm(t *testing.T) {
	tp := loadTemplate(t)
	found := false
	for _, a := range tp.alarms() {
		if a.namespace != rollup.LagNamespace || a.metric != rollup.LagMetric {
			continue
		}
		found = true
		p := lookup(tp.resource(a.id), "Properties")
		if a.dimension != rollup.LagDimension || a.target != rollupID {
			t.Errorf("alarm %s: dimension %s = !Ref %s; rollup.LagEMF publishes %s = the rollup function's name", a.id, a.dimension, a.target, rollup.LagDimension)
		}
		if got := scalar(lookup(p, "TreatMissingData")); got != "breaching" {
			t.Errorf("alarm %s: TreatMissingData %q; a rollup that stopped running logs no lag, and that is trouble", a.id, got)
		}
		if !a.notifies {
			t.Errorf("alarm %s notifies no topic", a.id)
		}
	}
	if !found {
		t.Errorf("no alarm on %s %s: nobody hears of the rollup falling behind", rollup.LagNamespace, rollup.LagMetric)
	}
}

// TestTemplateMetricsFunction: GET /metrics reads the metric state and the newest snapshot
// of the summary table, and nothing else.
func TestTemplateMetricsFunction(t *testing.T) {
	tp := loadTemplate(t)
	ids := tp.functionsServing(listingMethod, metrics.Path)
	if len(ids) != 1 {
		t.Fatalf("functions serving GET %s: %v; want one", metrics.Path, ids)
	}
	sts := tp.statements(t, ids[0])
	for _, action := range []string{"dynamodb:BatchGetItem", "dynamodb:Query"} {
		if !allows(sts, action, summaryTableArn) {
			t.Errorf("function %s may not %s on %s; /metrics needs it", ids[0], action, summaryTableID)
		}
	}
	for _, st := range sts {
		if !slices.Equal(st.resources, []string{summaryTableArn}) {
			t.Errorf("function %s statement %s: resources %q; /metrics reads the summary table only", ids[0], st.sid, st.resources)
		}
	}
}
