package domain

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The domain must stay free of Temporal and SQL so its rules are testable
// and reusable anywhere; this fails the build the day someone imports them.
func TestDomainImportsNeitherTemporalNorSQL(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no files: %v", err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "go.temporal.io") || path == "database/sql" || strings.HasPrefix(path, "database/sql/") || path == "github.com/lib/pq" {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
