package simulate

// The world the simulation runs in: labs, their device types and devices, the kernel
// trees under test and the jobs each lab runs. Names follow KernelCI's so that stats and
// anomalies over simulated data read like the real thing.

type lab struct {
	runtime string
	weight  int // share of the test jobs this lab runs
	// devicesReported is false for labs whose callbacks carry no device id, which is how
	// events without device_id arise.
	devicesReported bool
	deviceTypes     []deviceType
	jobs            []jobKind
	// incompleteRate is the chance a job ends incomplete on a healthy device; most such
	// ends are infrastructure errors.
	incompleteRate float64
}

type deviceType struct {
	name    string
	arch    string
	devices []device
}

type device struct {
	id string
	// weight is the device's share of its type's jobs. A dead device ends jobs quickly,
	// so LAVA hands it more of them than its healthy siblings.
	weight int
	health deviceHealth
}

// deviceHealth is how a device behaves; the zero value is a healthy device.
type deviceHealth int

const (
	// deadInfra never boots: every job ends incomplete with an infrastructure error.
	deadInfra deviceHealth = iota + 1
	// failsAlways boots a kernel that panics: every job fails, and it is not the lab's fault.
	failsAlways
)

type jobKind struct {
	name string // "baseline" becomes baseline-<arch>
	// baseSeconds is the typical wall time of a passing job.
	baseSeconds float64
	tests       []string
	minTests    int
	// testSeconds is the typical duration of one test, 0 for suites that report none.
	testSeconds float64
}

var baseline = jobKind{
	name: "baseline", baseSeconds: 95, minTests: 4,
	tests: []string{
		"baseline.login", "baseline.dmesg.crit", "baseline.dmesg.alert", "baseline.dmesg.emerg",
		"baseline.bootrr.deferred-probe-empty", "baseline.bootrr.mmc0-probed",
		"baseline.bootrr.usb2-probed", "baseline.bootrr.pwm0-probed",
	},
}

var kselftestDT = jobKind{
	name: "kselftest-dt", baseSeconds: 420, minTests: 5,
	tests: []string{
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_i2c_11007000",
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_spi_1100a000",
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_usb_11200000",
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_mmc_11230000",
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_gpu_13000000",
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_pcie_11230000",
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_display_14000000",
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_thermal_1100b000",
		"kselftest-dt.dt_test_unprobed_devices_sh.soc_pwm_1100e000",
	},
}

var ltpTimers = jobKind{
	name: "ltp-timers", baseSeconds: 1260, minTests: 4, testSeconds: 6,
	tests: []string{
		"ltp-timers.clock_gettime02", "ltp-timers.clock_nanosleep01", "ltp-timers.leapsec01",
		"ltp-timers.timer_create01", "ltp-timers.timerfd_settime01", "ltp-timers.nanosleep02",
		"ltp-timers.clock_settime03",
	},
}

var tastBasic = jobKind{
	name: "tast-basic", baseSeconds: 780, minTests: 3, testSeconds: 25,
	tests: []string{
		"tast.example.Pass", "tast.platform.CheckDiskSpace", "tast.platform.DLCService",
		"tast.kernel.ConfigVerify", "tast.hardware.SensorPresence",
	},
}

var kunit = jobKind{
	name: "kunit", baseSeconds: 150, minTests: 6, testSeconds: 0.04,
	tests: []string{
		"kunit.exec.time_test_cases.time64_to_tm_test_date_range",
		"kunit.exec.list-kunit-test.list_test_list_init",
		"kunit.exec.ext4_inode_test.inode_test_xtimestamp_decoding",
		"kunit.exec.drm_rect.drm_test_rect_clip_scaled_div_by_zero",
		"kunit.exec.mptcp-crypto.mptcp_crypto_test_basic",
		"kunit.exec.sysctl_test.sysctl_test_api_dointvec_null_tbl_data",
		"kunit.exec.kfence.test_out_of_bounds_read",
		"kunit.exec.binfmt_elf.total_mapping_size_test",
		"kunit.exec.rational.rational_best_approximation",
		"kunit.exec.resource.resource_test_union",
	},
}

// labs are the LAVA labs and the Kubernetes runtime. lava-cip is the lab whose online
// check keeps failing; k8s-all runs the builds and kunit, with no device at all.
var labs = []lab{
	{
		runtime: "lava-collabora", weight: 30, devicesReported: true, incompleteRate: 0.06,
		jobs: []jobKind{baseline, baseline, kselftestDT, tastBasic},
		deviceTypes: []deviceType{
			{name: "rk3399-gru-kevin", arch: "arm64", devices: []device{
				{id: "rk3399-gru-kevin-cbg-0", weight: 2}, {id: "rk3399-gru-kevin-cbg-1", weight: 2},
				{id: "rk3399-gru-kevin-cbg-2", weight: 2},
			}},
			{name: "mt8192-asurada-spherion-r0", arch: "arm64", devices: []device{
				{id: "mt8192-asurada-spherion-r0-cbg-0", weight: 2},
				{id: "mt8192-asurada-spherion-r0-cbg-1", weight: 5, health: deadInfra},
			}},
			{name: "hp-x360-14-G1-sona", arch: "x86_64", devices: []device{
				{id: "hp-x360-14-G1-sona-cbg-0", weight: 2}, {id: "hp-x360-14-G1-sona-cbg-1", weight: 2},
			}},
		},
	},
	{
		runtime: "lava-baylibre", weight: 20, devicesReported: true, incompleteRate: 0.08,
		jobs: []jobKind{baseline, baseline, kselftestDT, ltpTimers},
		deviceTypes: []deviceType{
			{name: "meson-g12b-a311d-khadas-vim3", arch: "arm64", devices: []device{
				{id: "meson-g12b-a311d-khadas-vim3-lab-baylibre-01", weight: 2},
				{id: "meson-g12b-a311d-khadas-vim3-lab-baylibre-02", weight: 2},
			}},
			{name: "meson-sm1-s905d3-libretech-cc", arch: "arm64", devices: []device{
				{id: "meson-sm1-s905d3-libretech-cc-lab-baylibre-01", weight: 2},
				{id: "meson-sm1-s905d3-libretech-cc-lab-baylibre-02", weight: 3, health: failsAlways},
			}},
			{name: "beaglebone-black", arch: "arm", devices: []device{
				{id: "beaglebone-black-lab-baylibre-01", weight: 2},
			}},
		},
	},
	{
		runtime: "lava-broonie", weight: 14, devicesReported: false, incompleteRate: 0.05,
		jobs: []jobKind{baseline, baseline, kselftestDT},
		deviceTypes: []deviceType{
			{name: "bcm2711-rpi-4-b", arch: "arm64", devices: []device{{weight: 1}}},
			{name: "sun50i-h6-pine-h64", arch: "arm64", devices: []device{{weight: 1}}},
			{name: "imx8mp-verdin-nonwifi-dahlia", arch: "arm64", devices: []device{{weight: 1}}},
		},
	},
	{
		runtime: "lava-cip", weight: 12, devicesReported: true, incompleteRate: 0.10,
		jobs: []jobKind{baseline, ltpTimers},
		deviceTypes: []deviceType{
			{name: "r8a774c0-ek874", arch: "arm64", devices: []device{
				{id: "r8a774c0-ek874-cip-01", weight: 2},
			}},
			{name: "qemu_x86_64", arch: "x86_64", devices: []device{
				{id: "qemu-cip-01", weight: 2}, {id: "qemu-cip-02", weight: 2},
			}},
			{name: "siemens-iot2050-advanced", arch: "arm64", devices: []device{
				{id: "iot2050-advanced-cip-01", weight: 2},
			}},
		},
	},
	{
		runtime: "lava-qualcomm", weight: 10, devicesReported: true, incompleteRate: 0.20,
		jobs: []jobKind{baseline, kselftestDT},
		deviceTypes: []deviceType{
			{name: "sc7180-trogdor-lazor-limozeen", arch: "arm64", devices: []device{
				{id: "sc7180-trogdor-lazor-limozeen-qcom-01", weight: 2},
				{id: "sc7180-trogdor-lazor-limozeen-qcom-02", weight: 2},
			}},
			{name: "apq8016-sbc-usb-host", arch: "arm64", devices: []device{
				{id: "apq8016-sbc-usb-host-qcom-01", weight: 2},
			}},
		},
	},
	{
		runtime: "k8s-all", weight: 14, devicesReported: false, incompleteRate: 0.02,
		jobs:        []jobKind{kunit},
		deviceTypes: []deviceType{{arch: "x86_64", devices: []device{{weight: 1}}}, {arch: "arm64", devices: []device{{weight: 1}}}},
	},
}

// buildRuntime runs every kernel build.
const buildRuntime = "k8s-all"

// onlineCheckRuntime is the lab whose online check fails again and again.
const onlineCheckRuntime = "lava-cip"

type tree struct {
	name, branch string
	weight       int
}

var trees = []tree{
	{"mainline", "master", 30},
	{"next", "master", 25},
	{"stable-rc", "linux-6.6.y", 15},
	{"stable", "linux-6.12.y", 10},
	{"android", "android16-6.12", 5},
	{"cip", "linux-6.1.y-cip", 15},
}

var buildConfigs = []struct {
	name, arch string
	seconds    float64
}{
	{"kbuild-gcc-14-arm64", "arm64", 1500},
	{"kbuild-gcc-14-arm64-chromebook", "arm64", 1700},
	{"kbuild-gcc-14-x86", "x86_64", 1300},
	{"kbuild-clang-17-x86-kselftest", "x86_64", 1900},
	{"kbuild-gcc-14-arm-multi_v7_defconfig", "arm", 1100},
}

// infraErrors are how LAVA reports jobs the lab, not the kernel, failed to run.
var infraErrors = []string{
	"auto-login-action timed out after 600 seconds",
	"Unable to fetch https://storage.kernelci.org/images/rootfs/debian/bookworm/arm64/rootfs.cpio.gz: timed out",
	"Connection closed by the serial console server",
	"bootloader-interrupt timed out after 30 seconds",
	"Device power cycle failed: PDU not responding",
}

// jobErrors are incomplete jobs that are the kernel's or the job definition's fault.
var jobErrors = []struct{ errorType, message string }{
	{"Job", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"},
	{"Test", "lava-test-shell timed out after 1800 seconds"},
	{"Configuration", "Invalid job definition: unknown device tag usb-ethernet"},
}

var buildErrors = []string{
	"make: *** [Makefile:1985: vmlinux] Error 2",
	"drivers/gpu/drm/panel/panel-edp.c:1204:12: error: 'delay_200_500_e50' undeclared",
	"ld.lld: error: undefined symbol: __aeabi_uldivmod",
}
