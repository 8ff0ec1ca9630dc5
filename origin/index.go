package origin

import (
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// maxIndexEntries bounds the files the page at / lists: a directory may
// hold millions.
const maxIndexEntries = 1000

// indexEntry is one file the page at / lists.
type indexEntry struct {
	Path string // URL path
	Size int64
}

// indexPage is what the page at / shows.
type indexPage struct {
	Stats     ServerStats
	StatsPath string
	Synthetic string // an example synthetic path; "" without Synthetic
	Files     bool   // Dir or FS is served
	Listed    bool   // ServerConfig.Index: the files are listed
	Entries   []indexEntry
	More      bool // more files than maxIndexEntries
}

var indexTemplate = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>edgecache reference origin</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 860px; padding: 0 1em; color: #212121; }
td, th { text-align: left; padding: .15em .8em .15em 0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #eee; padding: 0 .25em; }
</style>
</head>
<body>
<h1>edgecache reference origin</h1>
<p>Served so far: <b>{{.Stats.Requests}}</b> requests, <b>{{.Stats.BodyBytes}}</b> body bytes
(the same counters as JSON: <a href="{{.StatsPath}}"><code>{{.StatsPath}}</code></a>; neither this page nor they are counted).
Every edge in front of this origin that serves a chunk again from its cache spares one of these requests.</p>
{{with .Synthetic}}<p>Synthetic objects: <code>/synthetic/&lt;size&gt;/&lt;name&gt;</code>, for example
<a href="{{.}}"><code>{{.}}</code></a>; any client can recompute their bytes.</p>{{end}}
{{if .Listed}}<h2>Files</h2>
<table><tr><th>path</th><th>bytes</th></tr>
{{range .Entries}}<tr><td><a href="{{.Path}}"><code>{{.Path}}</code></a></td><td class="num">{{.Size}}</td></tr>
{{end}}</table>{{if .More}}<p>… and more: only the first {{len .Entries}} are listed.</p>{{end}}
{{else if .Files}}<p>Files are served by their path; the list is not shown (ServerConfig.Index).</p>{{end}}
</body>
</html>
`))

// serveIndex answers / with a page that says what the server serves and
// how much it has: its counters, the form of its synthetic paths and,
// with ServerConfig.Index, its files. It is not counted, and never stored
// by a cache (its counters change).
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	page := indexPage{Stats: s.Stats(), StatsPath: StatsPath, Files: s.files != nil, Listed: s.files != nil && s.cfg.Index}
	if s.cfg.Synthetic {
		page.Synthetic = SyntheticPath(1<<20, "example.bin")
	}
	if page.Listed {
		page.Entries, page.More = s.indexEntries()
	}
	if err := indexTemplate.Execute(w, page); err != nil {
		s.log.Debug("origin index write failed", "err", err)
	}
}

// indexEntries lists the regular files that serveFile would serve, in
// lexical order, up to maxIndexEntries: dotfiles and dot directories are
// left out, as serveFile refuses them.
func (s *Server) indexEntries() (entries []indexEntry, more bool) {
	err := fs.WalkDir(s.files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable directory is left out, not fatal
		}
		if name != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if len(entries) == maxIndexEntries {
			more = true
			return fs.SkipAll
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		entries = append(entries, indexEntry{Path: path.Join("/", name), Size: fi.Size()})
		return nil
	})
	if err != nil {
		s.log.Debug("origin index walk failed", "err", err)
	}
	return entries, more
}
