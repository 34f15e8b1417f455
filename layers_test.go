package importer_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The layers, from the ground up: internal/ (plumbing every flow shares),
// activities/ (what touches the world: sources, vendors, the store's users),
// workflows/ (durable flows), then the binaries and their composition roots
// (worker/, starter/), and testsuite/. A package may import its own layer
// and the layers below it, never one above.
var layers = []string{"internal", "activities", "workflows", "worker", "starter", "testsuite"}

// flowContracts are the workflow packages activities may import: flows
// whose contract an activity uses. The pacer's client (workflows/pacer,
// client.go) is how a paced vendor's chunk reserves its send time.
var flowContracts = []string{"importer/workflows/pacer"}

// layerOf is the layer a package of the module belongs to, and its rank;
// the module's other packages (none today) rank with the binaries.
func layerOf(pkg string) (string, int) {
	rest, ok := strings.CutPrefix(pkg, "importer/")
	if !ok {
		return "", -1
	}
	top, _, _ := strings.Cut(rest, "/")
	if i := slices.Index(layers, top); i >= 0 {
		return top, i
	}
	return top, slices.Index(layers, "worker")
}

// wrongWay lists the imports among deps (package → its transitive
// dependencies) that point up a layer, as "pkg → dep" lines.
func wrongWay(deps map[string][]string) []string {
	var bad []string
	for pkg, ds := range deps {
		_, rank := layerOf(pkg)
		if rank < 0 {
			continue
		}
		for _, d := range ds {
			dl, drank := layerOf(d)
			if drank <= rank {
				continue
			}
			if layers[rank] == "activities" && dl == "workflows" && slices.Contains(flowContracts, d) {
				continue
			}
			bad = append(bad, pkg+" → "+d)
		}
	}
	slices.Sort(bad)
	return bad
}

// moduleDeps is every package of the module and its transitive (non-test)
// dependencies within the module, as go list -deps sees them.
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var own []string
		for _, d := range f[1:] {
			if strings.HasPrefix(d, "importer/") {
				own = append(own, d)
			}
		}
		deps[f[0]] = own
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return deps
}

func TestLayersPointOneWay(t *testing.T) {
	deps := moduleDeps(t)
	// The walk saw the packages whose arrows once ran up: it checked
	// something.
	for _, p := range []string{"importer/internal/store", "importer/internal/metrics", "importer/activities/imports", "importer/activities/vendors/sandbox", "importer/workflows/gate"} {
		if _, ok := deps[p]; !ok {
			t.Fatalf("go list did not list %s; the layer check would check nothing", p)
		}
	}
	if !slices.Contains(deps["importer/activities/imports"], "importer/workflows/pacer") {
		t.Fatal("activities/imports no longer uses the pacer's client: drop workflows/pacer from flowContracts")
	}
	if bad := wrongWay(deps); len(bad) > 0 {
		t.Errorf("%d imports point up a layer (%s); move the code down or the type into the lower package:\n  %s",
			len(bad), strings.Join(layers, " < "), strings.Join(bad, "\n  "))
	}
}

func TestTheLayerCheckCatchesEachWrongWay(t *testing.T) {
	for _, c := range []struct {
		pkg, dep string
		bad      bool
	}{
		{"importer/internal/store", "importer/activities/source", true},
		{"importer/internal/metrics", "importer/activities/vendorapi", true},
		{"importer/activities/imports", "importer/workflows/gate", true},
		{"importer/activities/imports", "importer/workflows", true},
		{"importer/activities/imports", "importer/workflows/pacer", false},
		{"importer/workflows", "importer/worker/workerrun", true},
		{"importer/worker/workerrun", "importer/testsuite/e2e", true},
		{"importer/workflows/gate", "importer/activities/failure", false},
		{"importer/starter/cli", "importer/worker/workerrun", false},
		{"importer/activities/imports", "importer/internal/store", false},
	} {
		got := wrongWay(map[string][]string{c.pkg: {c.dep}})
		if (len(got) > 0) != c.bad {
			t.Errorf("%s importing %s: flagged %v, want %v", c.pkg, c.dep, got, c.bad)
		}
	}
}
