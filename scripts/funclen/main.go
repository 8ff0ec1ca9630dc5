// Command funclen reports the functions of non-test Go files whose body is
// longer than -max lines, and exits 1 if there is any: the function-length
// half of `make check`'s complexity gate (gocognit is the other half).
//
// Usage:
//
//	go run ./scripts/funclen [-max 80] DIR...
//
// Each DIR (a trailing /... is allowed) is walked recursively; testdata and hidden directories are
// skipped. A body's length is the lines between its braces.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	max := flag.Int("max", 80, "longest function body allowed, in lines")
	flag.Parse()
	long, err := scan(flag.Args(), *max)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(2)
	}
	for _, l := range long {
		fmt.Println(l)
	}
	if len(long) > 0 {
		os.Exit(1)
	}
}

// scan returns a line per function of the Go files under dirs whose body
// is longer than max lines.
func scan(dirs []string, max int) ([]string, error) {
	fset := token.NewFileSet()
	var long []string
	for _, dir := range dirs {
		root := strings.TrimSuffix(dir, "/...")
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")):
				return filepath.SkipDir
			case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			long = append(long, longFuncs(fset, f, max)...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return long, nil
}

// longFuncs reports the functions of f longer than max lines.
func longFuncs(fset *token.FileSet, f *ast.File, max int) []string {
	var long []string
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		open, end := fset.Position(fd.Body.Lbrace), fset.Position(fd.Body.Rbrace)
		if n := end.Line - open.Line - 1; n > max {
			long = append(long, fmt.Sprintf("%s: %s is %d lines long (max %d)", fset.Position(fd.Pos()), fd.Name.Name, n, max))
		}
	}
	return long
}
