package simulate

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// testJob is a test job on a device: job_submission, then its test_result events, then
// job_result, which carries the job's wall time.
func (g *generator) testJob() error {
	l := g.pickLab()
	dt := pick(g.rand, l.deviceTypes)
	dev := g.pickDevice(dt)
	kind := pick(g.rand, l.jobs)
	tr := g.pickTree()
	if l.runtime == onlineCheckRuntime && g.rand.chance(0.6) {
		tr = trees[len(trees)-1] // CIP's lab mostly tests CIP's kernel
	}
	g.jobs++
	node := g.nodeID()
	jobID := strconv.Itoa(9_000_000 + g.jobs*13 + g.rand.intn(13))
	if !l.devicesReported && dt.name == "" {
		jobID = "kci-" + node[:16] + "-" + kind.name
	}
	base := telemetry.Event{
		Runtime: l.runtime, DeviceType: dt.name, JobName: jobName(kind, dt.arch),
		JobID: jobID, NodeID: node, Tree: tr.name, Branch: tr.branch, Arch: dt.arch,
	}
	if l.devicesReported {
		base.DeviceID = dev.id
	}
	if g.rand.chance(0.05) {
		base.Retry = 1
	}

	// What happened decides how long it took and which tests ran.
	result, tests := telemetry.ResultPass, g.testCount(kind)
	length := g.seconds(kind.baseSeconds)
	failOne := false
	switch r := g.rand.float(); {
	case dev.health == deadInfra:
		result, tests, length = telemetry.ResultIncomplete, 0, g.seconds(200)
		base.IsInfraError = true
		base.ErrorType, base.ErrorMsg = "Infrastructure", "bootloader-commands timed out after 180 seconds"
	case dev.health == failsAlways:
		result, tests, length = telemetry.ResultFail, 1, g.seconds(kind.baseSeconds*0.4)
		base.ErrorType = "Kernel"
		base.ErrorMsg = "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(179,2)"
		failOne = true
	case r < l.incompleteRate:
		result, tests, length = telemetry.ResultIncomplete, g.rand.intn(2), g.seconds(kind.baseSeconds*0.6)
		if g.rand.chance(0.7) {
			base.IsInfraError = true
			base.ErrorType, base.ErrorMsg = "Infrastructure", pick(g.rand, infraErrors)
		} else {
			e := pick(g.rand, jobErrors)
			base.ErrorType, base.ErrorMsg = e.errorType, e.message
		}
		failOne = tests > 0
	case r < l.incompleteRate+0.09:
		result, failOne = telemetry.ResultFail, true
	}

	total := durationOf(length)
	t0 := g.startFor(total)
	submission := base
	submission.Kind, submission.TS = telemetry.KindJobSubmission, t0
	submission.IsInfraError, submission.ErrorType, submission.ErrorMsg = false, "", ""
	if err := g.send(submission); err != nil {
		return err
	}
	failAt := -1
	if failOne {
		failAt = g.rand.intn(tests)
		if dev.health == failsAlways || result == telemetry.ResultIncomplete {
			failAt = 0 // nothing after the first test ran
		}
	}
	for i := range tests {
		test := telemetry.Event{
			Kind: telemetry.KindTestResult, Runtime: base.Runtime, DeviceType: base.DeviceType,
			DeviceID: base.DeviceID, JobName: base.JobName, TestName: kind.tests[i],
			JobID: base.JobID, NodeID: g.nodeID(), Tree: base.Tree, Branch: base.Branch,
			Arch: base.Arch, Retry: base.Retry,
			TS:     t0.Add(total / 10).Add(time.Duration(float64(total) * 0.85 * float64(i+1) / float64(tests+1))),
			Result: g.testResult(i == failAt),
		}
		if kind.testSeconds > 0 {
			test.Duration = ptr(g.seconds(kind.testSeconds))
		}
		if err := g.send(test); err != nil {
			return err
		}
	}
	final := base
	final.Kind, final.TS, final.Result, final.Duration = telemetry.KindJobResult, t0.Add(total), result, ptr(length)
	return g.send(final)
}

func jobName(kind jobKind, arch string) string {
	switch kind.name {
	case "baseline":
		if arch == "x86_64" {
			return "baseline-x86"
		}
		return "baseline-" + arch
	case "kunit":
		return "kunit-" + arch
	}
	return kind.name
}

func (g *generator) testCount(kind jobKind) int {
	return kind.minTests + g.rand.intn(len(kind.tests)-kind.minTests+1)
}

// testResult is mostly pass, sometimes skip, fail or unknown (LAVA's word for a test whose
// outcome it could not parse); failed is the test a failed job is blamed on.
func (g *generator) testResult(failed bool) string {
	if failed {
		return telemetry.ResultFail
	}
	switch r := g.rand.float(); {
	case r < 0.90:
		return telemetry.ResultPass
	case r < 0.95:
		return telemetry.ResultSkip
	case r < 0.98:
		return telemetry.ResultFail
	default:
		return telemetry.ResultUnknown
	}
}

// build is one kernel build on Kubernetes. A build killed for lack of resources has no
// duration: nothing measured it.
func (g *generator) build() error {
	cfg := buildConfigs[g.rand.intn(len(buildConfigs))]
	tr := g.pickTree()
	length := g.seconds(cfg.seconds)
	e := telemetry.Event{
		Kind: telemetry.KindBuildResult, Runtime: buildRuntime, JobName: cfg.name,
		NodeID: g.nodeID(), Tree: tr.name, Branch: tr.branch, Arch: cfg.arch,
		Result: telemetry.ResultPass, Duration: ptr(length),
	}
	e.JobID = "kci-" + e.NodeID[:16] + "-build"
	switch r := g.rand.float(); {
	case r < 0.02:
		e.Result, e.Duration, e.IsInfraError = telemetry.ResultIncomplete, nil, true
		e.ErrorType, e.ErrorMsg = "Infrastructure", "Pod evicted: the node was low on resource: memory"
	case r < 0.12:
		e.Result = telemetry.ResultFail
		e.ErrorType, e.ErrorMsg = "compiler_error", pick(g.rand, buildErrors)
	}
	e.TS = g.startFor(durationOf(length)).Add(durationOf(length))
	return g.send(e)
}

// skipBurst is a few jobs the scheduler did not submit because the lab could not take
// them; it says so once per job.
func (g *generator) skipBurst() error {
	l := g.pickLab()
	dt := pick(g.rand, l.deviceTypes)
	tr := g.pickTree()
	n := 2 + g.rand.intn(4)
	errorType, message := "no_online_devices", fmt.Sprintf("No device of type %s is online in %s", dt.name, l.runtime)
	if dt.name == "" || g.rand.chance(0.4) {
		errorType, message = "queue_full", fmt.Sprintf("%s has %d jobs queued, more than its limit of 250", l.runtime, 250+g.rand.intn(80))
	}
	t := g.startFor(time.Duration(n) * time.Minute)
	for range n {
		t = t.Add(5*time.Second + g.jitter(55*time.Second))
		e := telemetry.Event{
			Kind: telemetry.KindJobSkip, Runtime: l.runtime, DeviceType: dt.name,
			JobName: jobName(pick(g.rand, l.jobs), dt.arch), NodeID: g.nodeID(),
			Tree: tr.name, Branch: tr.branch, Arch: dt.arch, TS: t,
			ErrorType: errorType, ErrorMsg: message,
		}
		if err := g.send(e); err != nil {
			return err
		}
	}
	return nil
}

// runtimeErrorBurst is a lab refusing submissions or callbacks for a few minutes.
func (g *generator) runtimeErrorBurst() error {
	l := g.pickLab()
	n := 2 + g.rand.intn(4)
	errorType, message := "submit_error", fmt.Sprintf("Failed to submit job to %s: HTTP 503 Service Unavailable", l.runtime)
	if g.rand.chance(0.3) {
		errorType, message = "callback_error", fmt.Sprintf("Callback from %s rejected: token does not match the runtime", l.runtime)
	}
	t := g.startFor(time.Duration(n) * 3 * time.Minute)
	for range n {
		t = t.Add(30*time.Second + g.jitter(150*time.Second))
		e := telemetry.Event{
			Kind: telemetry.KindRuntimeError, Runtime: l.runtime, TS: t, IsInfraError: true,
			ErrorType: errorType, ErrorMsg: message,
		}
		if err := g.send(e); err != nil {
			return err
		}
	}
	return nil
}

// onlineCheckBurst is lava-cip failing its online check: runtime errors while the
// scheduler polls it, and the jobs it skips meanwhile.
func (g *generator) onlineCheckBurst() error {
	l := labNamed(onlineCheckRuntime)
	failures, skips := 3+g.rand.intn(4), 2+g.rand.intn(3)
	t := g.startFor(time.Duration(failures+skips) * 2 * time.Minute)
	for i := range failures + skips {
		t = t.Add(time.Minute + g.jitter(time.Minute))
		e := telemetry.Event{
			Kind: telemetry.KindRuntimeError, Runtime: l.runtime, TS: t, IsInfraError: true,
			ErrorType: "online_check",
			ErrorMsg:  "Online check failed for https://lava.ciplatform.org/api/v0.2/: Read timed out (read timeout=30)",
		}
		if i%2 == 1 && skips > 0 {
			skips--
			dt := pick(g.rand, l.deviceTypes)
			tr := trees[len(trees)-1]
			e = telemetry.Event{
				Kind: telemetry.KindJobSkip, Runtime: l.runtime, DeviceType: dt.name,
				JobName: jobName(pick(g.rand, l.jobs), dt.arch), NodeID: g.nodeID(),
				Tree: tr.name, Branch: tr.branch, Arch: dt.arch, TS: t,
				ErrorType: "online_check", ErrorMsg: "Job skipped: " + l.runtime + " failed its online check",
			}
		}
		if err := g.send(e); err != nil {
			return err
		}
	}
	return nil
}

// warning is a lab falling behind without failing yet.
func (g *generator) warning() error {
	l := g.pickLab()
	dt := pick(g.rand, l.deviceTypes)
	e := telemetry.Event{
		Kind: telemetry.KindRuntimeWarning, Runtime: l.runtime, DeviceType: dt.name,
		TS: g.startFor(0), ErrorType: "queue_depth",
		ErrorMsg: fmt.Sprintf("%d jobs queued in %s, above the warning level of 100", 100+g.rand.intn(120), l.runtime),
	}
	if g.rand.chance(0.3) {
		e.ErrorType = "slow_callback"
		e.ErrorMsg = fmt.Sprintf("Callback from %s arrived %d s after the job ended", l.runtime, 60+g.rand.intn(600))
	}
	return g.send(e)
}
