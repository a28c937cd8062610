package broker_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDriversImportNoHarness: a driver is a library of its own. No package
// under broker/ may depend on the scenario model, the checker, the swarm, the
// chaos engine, the runner or the reports: `go list -deps ./broker/...`.
func TestDriversImportNoHarness(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	const module = "github.com/mqcheck/mqcheck/"
	forbidden := []string{"scenarios", "report", "checker", "swarm", "chaos", "runner", "metrics", "cmd"}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := fields[0]
		if pkg != module+"broker" && !strings.HasPrefix(pkg, module+"broker/") {
			continue
		}
		checked++
		for _, dep := range fields[1:] {
			rel, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			for _, f := range forbidden {
				if rel == f || strings.HasPrefix(rel, f+"/") {
					t.Errorf("%s depends on %s", strings.TrimPrefix(pkg, module), rel)
				}
			}
		}
	}
	if checked < 5 {
		t.Errorf("checked %d broker packages; the listing is broken", checked)
	}
}
