package crashkernel

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// calibrationRow is one line of testdata/calibration.txt: a case measured
// in QEMU with the inputs `kdumpctl estimate` read in the guest and what
// it recommended there.
type calibrationRow struct {
	line             int
	kernel, target   string
	ramMiB, smallest int // guest memory; smallest working crashkernel= (MiB)
	in               Inputs
	estimate         int    // MiB, as printed in the guest
	atEstimate       string // "ok" when a capture at exactly the estimate worked
}

func readCalibration(t *testing.T) []calibrationRow {
	t.Helper()
	f, err := os.Open("testdata/calibration.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []calibrationRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 12 {
			t.Fatalf("calibration.txt:%d: %d fields, want 12", n, len(f))
		}
		num := func(i int) int64 {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				t.Fatalf("calibration.txt:%d: field %d: %v", n, i+1, err)
			}
			return v
		}
		net, err := strconv.ParseBool(f[9])
		if err != nil {
			t.Fatalf("calibration.txt:%d: network: %v", n, err)
		}
		rows = append(rows, calibrationRow{
			line: n, kernel: f[0], target: f[1], ramMiB: int(num(2)), smallest: int(num(3)),
			in: Inputs{RAM: Size(num(4)), KernelImageSize: Size(num(5)), InitramfsSize: Size(num(6)),
				InitramfsUnpackedSize: Size(num(7)), ModulesSize: Size(num(8)), Network: net},
			estimate: int(num(10)), atEstimate: f[11],
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestCalibrationReproducesMeasurements: DefaultCalibration gives, from
// the inputs recorded in each guest, the estimate that guest printed, and
// every estimate meets the acceptance: a capture at it worked, it is at
// least 4 MiB above the smallest size that worked and at most 25% above.
func TestCalibrationReproducesMeasurements(t *testing.T) {
	rows := readCalibration(t)
	rams := map[int]bool{}
	for _, r := range rows {
		rams[r.ramMiB] = true
		est, err := EstimateSize(r.in)
		if err != nil {
			t.Errorf("calibration.txt:%d: %v", r.line, err)
			continue
		}
		if got := int(est.Total.MiB()); got != r.estimate {
			t.Errorf("calibration.txt:%d: %s %s %d MiB: model gives %dM, the guest printed %dM", r.line, r.kernel, r.target, r.ramMiB, got, r.estimate)
		}
		if r.estimate < r.smallest+4 || float64(r.estimate) > 1.25*float64(r.smallest) {
			t.Errorf("calibration.txt:%d: estimate %dM outside [%dM, 1.25 × %dM]", r.line, r.estimate, r.smallest+4, r.smallest)
		}
		if r.atEstimate != "ok" {
			t.Errorf("calibration.txt:%d: capture at the estimate: %s", r.line, r.atEstimate)
		}
	}
	for _, m := range []int{1024, 2048, 4096} {
		if !rams[m] {
			t.Errorf("calibration.txt has no %d MiB guest", m)
		}
	}
}

// TestDefaultCoversMeasurements: the default crashkernel= gives every
// measured guest at least 1.5 times its smallest working size (room for
// more modules, firmware and a larger kernel than the test guests have).
func TestDefaultCoversMeasurements(t *testing.T) {
	def, err := Default("amd64")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range readCalibration(t) {
		got, err := def.SizeFor(r.in.RAM)
		if err != nil {
			t.Errorf("calibration.txt:%d: default on %v: %v", r.line, r.in.RAM, err)
			continue
		}
		if float64(got) < 1.5*float64(Size(r.smallest)*M) {
			t.Errorf("calibration.txt:%d: default %v on %d MiB is below 1.5 × the smallest working %dM", r.line, got, r.ramMiB, r.smallest)
		}
	}
}
