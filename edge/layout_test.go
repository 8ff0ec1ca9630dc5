package edge

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// The edge's internal packages never import the edge: they are what it is
// built from, and a package below it that reached back up would make the
// layers a knot. Checked on what the go command resolves, test imports
// included.
func TestInternalPackagesDoNotImportEdge(t *testing.T) {
	const edgePkg = "github.com/edgecache/edgecache/edge"
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps,TestImports,XTestImports", "-test=false", "./internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath                      string
			Deps, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, deps := range [][]string{p.Deps, p.TestImports, p.XTestImports} {
			for _, d := range deps {
				if d == edgePkg {
					t.Errorf("%s imports %s", p.ImportPath, edgePkg)
				}
			}
		}
	}
	if checked < 7 {
		t.Errorf("go list gave %d internal packages, want at least the 7 of the layout", checked)
	}
}
