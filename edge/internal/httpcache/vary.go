package httpcache

import (
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// MaxVaryFields bounds how many request fields one response may vary on;
// a response naming more is not stored (a key that long is more likely
// an attack or a mistake than a selection).
const MaxVaryFields = 16

// ParseVary returns the request fields a response varies on, lower case,
// sorted and without repeats, from every Vary line; star reports a "*"
// anywhere in the list, which matches no later request (RFC 9110 §12.5.5).
func ParseVary(lines []string) (fields []string, star bool) {
	for _, line := range lines {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			switch {
			case name == "":
			case name == "*":
				star = true
			case !slices.Contains(fields, name):
				fields = append(fields, name)
			}
		}
	}
	slices.Sort(fields)
	return fields, star
}

// VariantKey names the variant a request selects among the responses that
// vary on fields (ParseVary's): a hash of the request's normalised value
// of each field, absent fields marked apart from empty ones. values
// returns every line of a request field. Two requests whose fields differ
// only in ways the origin cannot tell apart — whitespace around commas,
// how the values are split over lines, the order and case of
// Accept-Language's members — select the same variant.
func VariantKey(fields []string, values func(name string) []string) uint64 {
	if len(fields) == 0 {
		return 0 // a response that does not vary is the only one
	}
	var d xxhash.Digest
	d.Reset()
	for _, name := range fields {
		_, _ = d.WriteString(name)
		lines := values(name)
		if len(lines) == 0 {
			_, _ = d.WriteString("\x01") // absent, which "" is not
			continue
		}
		_, _ = d.WriteString("\x00")
		_, _ = d.WriteString(NormalizeField(name, lines))
		_, _ = d.WriteString("\x00")
	}
	return d.Sum64()
}

// NormalizeField is the value of a request field as variant selection sees
// it: its lines as one list, each member without surrounding whitespace;
// for the fields whose members are case-insensitive and unordered
// (Accept-Language, Accept-Encoding, Accept-Charset), lower case and
// sorted.
func NormalizeField(name string, lines []string) string {
	var members []string
	for _, line := range lines {
		for m := range strings.SplitSeq(line, ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
	}
	switch strings.ToLower(name) {
	case "accept-language", "accept-encoding", "accept-charset":
		for i, m := range members {
			members[i] = strings.ToLower(strings.Join(strings.Fields(m), ""))
		}
		slices.Sort(members)
	}
	return strings.Join(members, ",")
}
