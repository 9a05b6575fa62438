package analytics

import (
	"testing"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestCountsResultsFollowsKernelCIScopes checks the kinds each level's result rates count,
// as KernelCI's anomaly scopes do: job and test results per device type, job results
// alone per device, none at the other levels.
func TestCountsResultsFollowsKernelCIScopes(t *testing.T) {
	kinds := []string{telemetry.KindJobResult, telemetry.KindTestResult, telemetry.KindBuildResult,
		telemetry.KindRuntimeError, telemetry.KindJobSubmission, telemetry.KindJobSkip}
	want := map[string]map[string]bool{
		LevelDeviceType: {telemetry.KindJobResult: true, telemetry.KindTestResult: true},
		LevelDevice:     {telemetry.KindJobResult: true},
		LevelRuntime:    {},
	}
	for level, counted := range want {
		for _, kind := range kinds {
			if got := countsResults(level, kind); got != counted[kind] {
				t.Errorf("countsResults(%s, %s) = %v, want %v", level, kind, got, counted[kind])
			}
		}
	}
}
