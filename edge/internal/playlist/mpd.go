package playlist

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
)

// mpdRefs reads a DASH MPD: for the first Representation of each
// adaptation set, its init segment and first media segments, from a
// SegmentTemplate ($Number$ addressing) or a SegmentList; BaseURLs are
// applied. Templates addressed by $Time$ are skipped: their names need the
// SegmentTimeline's arithmetic, and a wrong guess would only cost the
// origin a 404. The references of each Representation (or segment list)
// are interleaved, so that a player's video and audio both start warm.
func mpdRefs(body []byte, max int) []string {
	w := &mpdWalk{max: max, set: -1, cur: -1, repSeen: map[int]bool{}}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			w.start(t)
		case xml.CharData:
			if w.inBase {
				w.baseText.Write(t)
			}
		case xml.EndElement:
			w.end(t.Name.Local)
		}
	}
	return interleave(w.lists, max)
}

// mpdTemplate is the SegmentTemplate in force at an element: templates
// inherit downwards.
type mpdTemplate struct {
	init, media string
	start       int
	set         bool
}

// mpdWalk is the state of one walk of an MPD's elements. base and tmpl
// have one slot per open element: the BaseURL and the SegmentTemplate that
// apply to it and what it contains.
type mpdWalk struct {
	max      int
	base     []string
	tmpl     []mpdTemplate
	inBase   bool // inside a BaseURL element, whose text is baseText
	baseText strings.Builder

	set     int          // the open adaptation set, by order
	repSeen map[int]bool // adaptation set -> its first Representation was used
	inRep   bool         // inside a Representation
	useRep  bool         // ...the first of its set, whose references are taken
	repID   string       // its id and bandwidth, for templates
	bw      string

	// lists holds one list of references per Representation (or segment
	// list outside one) used; cur is the open Representation's, or -1.
	lists [][]string
	cur   int
}

// attr returns the value of t's attribute name, "" if it has none.
func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (w *mpdWalk) start(t xml.StartElement) {
	w.base = append(w.base, "")
	inherited := mpdTemplate{}
	if len(w.tmpl) > 0 {
		inherited = w.tmpl[len(w.tmpl)-1]
	}
	w.tmpl = append(w.tmpl, inherited)
	switch t.Name.Local {
	case "AdaptationSet":
		w.set++
	case "Representation":
		w.inRep, w.repID, w.bw = true, attr(t, "id"), attr(t, "bandwidth")
		w.useRep = !w.repSeen[w.set]
		w.repSeen[w.set] = true
		if w.useRep {
			w.lists = append(w.lists, nil)
			w.cur = len(w.lists) - 1
		}
	case "BaseURL":
		w.inBase = true
		w.baseText.Reset()
	case "SegmentTemplate":
		w.segmentTemplate(t)
	case "Initialization":
		w.addIfUsed(attr(t, "sourceURL"))
	case "SegmentURL":
		w.addIfUsed(attr(t, "media"))
	}
}

// segmentTemplate records a SegmentTemplate: it applies to its parent
// element, and what that contains.
func (w *mpdWalk) segmentTemplate(t xml.StartElement) {
	if len(w.tmpl) < 2 {
		return
	}
	p := &w.tmpl[len(w.tmpl)-2]
	if v := attr(t, "initialization"); v != "" {
		p.init = v
	}
	if v := attr(t, "media"); v != "" {
		p.media = v
	}
	p.start = 1
	if v, err := strconv.Atoi(attr(t, "startNumber")); err == nil {
		p.start = v
	}
	p.set = true
}

func (w *mpdWalk) end(name string) {
	switch name {
	case "BaseURL":
		w.inBase = false
		// The BaseURL applies to its parent element: the slot below.
		if len(w.base) >= 2 {
			w.base[len(w.base)-2] = strings.TrimSpace(w.baseText.String())
		}
	case "Representation":
		if t := w.tmpl[len(w.tmpl)-1]; w.useRep && t.set {
			w.addTemplate(t)
		}
		w.inRep, w.cur = false, -1
	}
	if len(w.base) > 0 {
		w.base = w.base[:len(w.base)-1]
		w.tmpl = w.tmpl[:len(w.tmpl)-1]
	}
}

// addTemplate adds the init segment and the first media segments that
// template t names for the open Representation.
func (w *mpdWalk) addTemplate(t mpdTemplate) {
	if ref, ok := w.expand(t.init, ""); ok && t.init != "" {
		w.add(ref)
	}
	for i := 0; t.media != "" && i < w.max; i++ {
		ref, ok := w.expand(t.media, strconv.Itoa(t.start+i))
		if !ok {
			break
		}
		w.add(ref)
	}
}

// addIfUsed adds a segment list's reference, unless it belongs to a
// Representation other than the first of its set.
func (w *mpdWalk) addIfUsed(ref string) {
	if w.useRep || !w.inRep {
		w.add(ref)
	}
}

// add adds ref, with the BaseURLs in force applied, to the open
// Representation's list, or to a list of its own outside one.
func (w *mpdWalk) add(ref string) {
	if ref == "" {
		return
	}
	prefix := ""
	for _, b := range w.base {
		prefix = joinRef(prefix, b)
	}
	list := w.cur
	if list < 0 {
		w.lists = append(w.lists, nil)
		list = len(w.lists) - 1
	}
	if len(w.lists[list]) < w.max {
		w.lists[list] = append(w.lists[list], joinRef(prefix, ref))
	}
}

// templateVar matches the identifiers of a DASH SegmentTemplate (ISO/IEC
// 23009-1 §5.3.9.4.4) with an optional printf width.
var templateVar = regexp.MustCompile(`\$(RepresentationID|Number|Bandwidth|Time)(%0(\d{1,2})d)?\$`)

// expand fills template t in for the open Representation and segment
// number; ok is false for a $Time$ template.
func (w *mpdWalk) expand(t, number string) (string, bool) {
	ok := true
	out := templateVar.ReplaceAllStringFunc(t, func(m string) string {
		sub := templateVar.FindStringSubmatch(m)
		val := ""
		switch sub[1] {
		case "RepresentationID":
			val = w.repID
		case "Number":
			val = number
		case "Bandwidth":
			val = w.bw
		case "Time":
			ok = false
		}
		if width, err := strconv.Atoi(sub[3]); err == nil && len(val) < width {
			val = strings.Repeat("0", width-len(val)) + val
		}
		return val
	})
	return strings.ReplaceAll(out, "$$", "$"), ok
}

// interleave takes the first reference of every list, then the second,
// and so on, up to max.
func interleave(lists [][]string, max int) []string {
	var refs []string
	for i := 0; len(refs) < max; i++ {
		took := false
		for _, l := range lists {
			if i < len(l) && len(refs) < max {
				refs, took = append(refs, l[i]), true
			}
		}
		if !took {
			break
		}
	}
	return refs
}
