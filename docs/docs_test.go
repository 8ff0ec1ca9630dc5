// Package docs_test checks the project's documents against the code they
// describe: every test, flag, environment variable and file they name in
// code must exist. A document that names a test merged away or a flag
// that was never there sends its reader looking for nothing.
package docs_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// root is the repository, seen from this package's directory.
const root = ".."

// documents are the Markdown files checked: the README and every page
// under docs/ and k8s/.
func documents(t *testing.T) []string {
	t.Helper()
	docs := []string{filepath.Join(root, "README.md")}
	for _, dir := range []string{"docs", "k8s"} {
		m, err := filepath.Glob(filepath.Join(root, dir, "*.md"))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, m...)
	}
	return docs
}

// codeText is a piece of code in a document: an inline code span, or a
// line of a fenced block.
type codeText struct {
	doc  string
	line int
	text string
}

var inlineCode = regexp.MustCompile("`([^`]+)`")

// code returns every piece of code in the documents. Inline spans are
// found per paragraph, as Markdown does, so that a span wrapped over two
// lines is one span.
func code(t *testing.T) []codeText {
	t.Helper()
	var out []codeText
	for _, doc := range documents(t) {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		var para []string
		paraStart := 0
		flush := func() {
			text := strings.Join(para, "\n")
			for _, m := range inlineCode.FindAllStringSubmatchIndex(text, -1) {
				line := paraStart + strings.Count(text[:m[0]], "\n")
				out = append(out, codeText{doc, line, strings.ReplaceAll(text[m[2]:m[3]], "\n", " ")})
			}
			para = para[:0]
		}
		fenced := false
		for i, line := range strings.Split(string(data), "\n") {
			n := i + 1
			switch {
			case strings.HasPrefix(strings.TrimSpace(line), "```"):
				flush()
				fenced = !fenced
			case fenced:
				out = append(out, codeText{doc, n, line})
			case strings.TrimSpace(line) == "":
				flush()
			default:
				if len(para) == 0 {
					paraStart = n
				}
				para = append(para, line)
			}
		}
		flush()
	}
	return out
}

// repoFiles calls fn with the path and contents of every file of the
// repository whose name satisfies keep, outside .git and testdata.
func repoFiles(t *testing.T, keep func(name string) bool, fn func(path string, data []byte)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == ".git" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !keep(d.Name()) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fn(path, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var (
	testName = regexp.MustCompile(`\b(?:Test|Fuzz|Benchmark)[A-Z0-9_][A-Za-z0-9_]*`)
	testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]*)\(`)
)

// Every test, fuzz target and benchmark a document names is one of the
// repository's: defined in a _test.go file, or a conformance suite that
// test packages call (enginetest.TestPeers, in a package of its own).
func TestDocumentedTestsExist(t *testing.T) {
	defined := map[string]bool{}
	repoFiles(t, func(name string) bool { return strings.HasSuffix(name, ".go") }, func(_ string, data []byte) {
		for _, m := range testFunc.FindAllSubmatch(data, -1) {
			defined[string(m[1])] = true
		}
	})
	if len(defined) < 50 {
		t.Fatalf("found only %d test functions in the repository", len(defined))
	}
	for _, c := range code(t) {
		for _, name := range testName.FindAllString(c.text, -1) {
			if !defined[name] {
				t.Errorf("%s:%d names %s, which no Go file defines", c.doc, c.line, name)
			}
		}
	}
}

var (
	// docPath is code that is a path inside the repository: a file with
	// one of the repository's extensions, or a directory (a trailing
	// slash), with at least one slash and not starting with one.
	docPath = regexp.MustCompile(`^(?:\.\./)*[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*(?:\.(?:go|md|sh|json|yaml|yml|conf|vcl|lua|html|tmpl|txt)|/)$`)
	mdLink  = regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)`)
)

// Every repository path a document names in code, and every relative link,
// exists inside the repository: nothing points outside it.
func TestDocumentedPathsExist(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	check := func(doc string, line int, target, base string) {
		p := filepath.Join(base, filepath.FromSlash(target))
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		if a != abs && !strings.HasPrefix(a, abs+string(filepath.Separator)) {
			t.Errorf("%s:%d names %s, which is outside the repository", doc, line, target)
			return
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s:%d names %s, which does not exist", doc, line, target)
		}
	}
	for _, c := range code(t) {
		if docPath.MatchString(c.text) && (strings.Contains(strings.TrimSuffix(c.text, "/"), "/") || strings.HasPrefix(c.text, "..")) &&
			!strings.Contains(c.text, "...") {
			check(c.doc, c.line, c.text, root)
		}
	}
	for _, doc := range documents(t) {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(data), "\n") {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				if !strings.Contains(m[1], "://") && !strings.HasPrefix(m[1], "mailto:") {
					check(doc, n+1, m[1], filepath.Dir(doc))
				}
			}
		}
	}
}

// help is what `edgecache --help` and `edgecache CMD --help` print.
type help struct {
	flags map[string]map[string]bool // command → flag names
	text  string                     // every help text, for environment twins
}

var (
	commandLine = regexp.MustCompile(`^\s+([a-z]+)\s`)
	flagToken   = regexp.MustCompile(`(?:^|[\s,])--?([a-z][a-z0-9-]*)`)
)

// commandHelp builds the edgecache command and reads its help: the
// commands, and each command's flags as the binary itself lists them.
func commandHelp(t *testing.T) help {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build edgecache: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "edgecache")
	build := exec.Command(gobin, "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(args ...string) string {
		var out bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // help may exit non-zero; what it prints is what counts
		return out.String()
	}
	top := run("--help")
	h := help{flags: map[string]map[string]bool{}, text: top}
	inCommands := false
	for _, line := range strings.Split(top, "\n") {
		switch {
		case strings.HasPrefix(strings.ToLower(line), "commands"):
			inCommands = true
		case strings.TrimSpace(line) == "":
			inCommands = false
		case inCommands:
			if m := commandLine.FindStringSubmatch(line); m != nil {
				h.flags[m[1]] = map[string]bool{"help": true, "h": true}
			}
		}
	}
	if len(h.flags) < 4 {
		t.Fatalf("found only %d commands in `edgecache --help`:\n%s", len(h.flags), top)
	}
	for cmd, flags := range h.flags {
		out := run(cmd, "--help")
		h.text += out
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "-") {
				continue
			}
			for _, m := range flagToken.FindAllStringSubmatch(line, -1) {
				flags[m[1]] = true
			}
		}
		if len(flags) < 3 {
			t.Fatalf("found no flags in `edgecache %s --help`:\n%s", cmd, out)
		}
	}
	return h
}

var (
	// invocation is a run of the edgecache command in code (at the start
	// of a shell command, after any variable assignments), up to the end
	// of that shell command: the command's name and its arguments.
	invocation = regexp.MustCompile(`(?:^|[;&|(]|\bdo\b|\bthen\b)\s*(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:\S*/)?(?:edgecache|go run \.)\s+([a-z]+)([^|;&#)]*)`)
	lonelyFlag = regexp.MustCompile(`^--([a-z][a-z0-9-]*)`)
	argFlag    = regexp.MustCompile(`(?:^|\s)--([a-z][a-z0-9-]*)`)
	envName    = regexp.MustCompile(`\bEDGECACHE_[A-Z0-9_]*[A-Z0-9]\b`)
)

// Every flag a document gives the edgecache command, and every flag named
// on its own, is one the command has; every EDGECACHE_* variable is a
// flag's twin or read by the code.
func TestDocumentedFlagsAndEnvironmentExist(t *testing.T) {
	h := commandHelp(t)
	anyFlag := map[string]bool{}
	for _, flags := range h.flags {
		for f := range flags {
			anyFlag[f] = true
		}
	}
	if len(anyFlag) < 20 {
		t.Fatalf("found only %d flags over all commands", len(anyFlag))
	}
	var sources strings.Builder
	repoFiles(t, func(name string) bool {
		return strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, ".yaml") ||
			name == "Makefile" || name == "Dockerfile" || name == "run"
	}, func(_ string, data []byte) { sources.Write(data) })
	for _, c := range code(t) {
		text := strings.TrimSpace(c.text)
		if m := lonelyFlag.FindStringSubmatch(text); m != nil && !anyFlag[m[1]] {
			t.Errorf("%s:%d names --%s, which no edgecache command has", c.doc, c.line, m[1])
		}
		for _, m := range invocation.FindAllStringSubmatch(text, -1) {
			flags, ok := h.flags[m[1]]
			if !ok {
				t.Errorf("%s:%d runs `edgecache %s`, which is not a command of edgecache", c.doc, c.line, m[1])
				continue
			}
			for _, f := range argFlag.FindAllStringSubmatch(m[2], -1) {
				if !flags[f[1]] {
					t.Errorf("%s:%d gives `edgecache %s` --%s, which it does not have", c.doc, c.line, m[1], f[1])
				}
			}
		}
		for _, env := range envName.FindAllString(text, -1) {
			if !strings.Contains(h.text, env) && !strings.Contains(sources.String(), env) {
				t.Errorf("%s:%d names %s, which is no flag's twin and which no code reads", c.doc, c.line, env)
			}
		}
	}
}
