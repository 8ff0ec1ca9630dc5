package httpcache

import (
	"errors"
	"strconv"
	"strings"
)

// A targeted cache field (CDN-Cache-Control, RFC 9213) is a Structured
// Field Dictionary (RFC 8941 §3.2), and one that does not parse as one, or
// whose known directives have values of the wrong type, is ignored as a
// whole: the cache then follows Cache-Control.

// itemKind is the type of a Structured Field bare item.
type itemKind uint8

const (
	kindBoolean itemKind = iota
	kindInteger
	kindDecimal
	kindString
	kindToken
	kindBinary
	kindInnerList
)

// sfMember is one member of a dictionary: its key, its value's kind and,
// for an integer, the value.
type sfMember struct {
	key     string
	kind    itemKind
	integer int64
	boolean bool
}

var errStructured = errors.New("not a structured field dictionary")

// parseDictionary parses a Structured Field Dictionary made of lines
// (combined with commas, as RFC 8941 §4.2 says), strictly.
func parseDictionary(lines []string) ([]sfMember, error) {
	p := sfParser{s: strings.Trim(strings.Join(lines, ","), " ")}
	var out []sfMember
	for p.more() {
		m, err := p.member()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		p.ows()
		if !p.more() {
			break
		}
		if !p.eat(',') {
			return nil, errStructured
		}
		p.ows()
		if !p.more() {
			return nil, errStructured // a trailing comma
		}
	}
	return out, nil
}

// sfParser reads a Structured Field from s.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) more() bool { return p.i < len(p.s) }

func (p *sfParser) peek() byte {
	if p.more() {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) eat(c byte) bool {
	if p.peek() == c && p.more() {
		p.i++
		return true
	}
	return false
}

func (p *sfParser) ows() {
	for p.more() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) member() (sfMember, error) {
	key, err := p.key()
	if err != nil {
		return sfMember{}, err
	}
	m := sfMember{key: key, kind: kindBoolean, boolean: true}
	if p.eat('=') {
		if p.peek() == '(' {
			err = p.innerList()
			m.kind = kindInnerList
		} else {
			m, err = p.item(key)
		}
		if err != nil {
			return sfMember{}, err
		}
	}
	return m, p.parameters()
}

// key reads a key: a lowercase letter or "*", then lowercase letters,
// digits, "_", "-", "." and "*".
func (p *sfParser) key() (string, error) {
	start := p.i
	if c := p.peek(); !(c >= 'a' && c <= 'z' || c == '*') {
		return "", errStructured
	}
	for p.more() {
		c := p.s[p.i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
			break
		}
		p.i++
	}
	return p.s[start:p.i], nil
}

// item reads a bare item (without its parameters).
func (p *sfParser) item(key string) (sfMember, error) {
	m := sfMember{key: key}
	switch c := p.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		return p.number(m)
	case c == '"':
		m.kind = kindString
		return m, p.string()
	case c == '*' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		m.kind = kindToken
		p.token()
		return m, nil
	case c == ':':
		m.kind = kindBinary
		return m, p.binary()
	case c == '?':
		p.i++
		m.kind = kindBoolean
		switch {
		case p.eat('1'):
			m.boolean = true
		case p.eat('0'):
		default:
			return m, errStructured
		}
		return m, nil
	}
	return m, errStructured
}

// number reads an Integer (at most 15 digits) or a Decimal (at most 12
// digits before the point and 3 after).
func (p *sfParser) number(m sfMember) (sfMember, error) {
	neg := p.eat('-')
	start, n, point := p.i, int64(0), -1
	for p.more() {
		c := p.s[p.i]
		if c == '.' && point < 0 {
			point = p.i
			p.i++
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if point < 0 {
			n = n*10 + int64(c-'0')
		}
		p.i++
	}
	digits := p.i - start
	switch {
	case digits == 0 || (point < 0 && digits > 15):
		return m, errStructured
	case point >= 0 && (point-start > 12 || p.i-point-1 < 1 || p.i-point-1 > 3):
		return m, errStructured
	case point >= 0:
		m.kind = kindDecimal
	default:
		m.kind, m.integer = kindInteger, n
		if neg {
			m.integer = -n
		}
	}
	return m, nil
}

func (p *sfParser) string() error {
	p.i++ // the opening quote
	for p.more() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return nil
		case c == '\\':
			if n := p.peek(); n != '"' && n != '\\' {
				return errStructured
			}
			p.i++
		case c < 0x20 || c > 0x7e:
			return errStructured
		}
	}
	return errStructured
}

func (p *sfParser) token() {
	p.i++
	for p.more() {
		c := p.s[p.i]
		if !isTokenChar(c) && c != ':' && c != '/' {
			return
		}
		p.i++
	}
}

func (p *sfParser) binary() error {
	p.i++
	for p.more() {
		c := p.s[p.i]
		p.i++
		if c == ':' {
			return nil
		}
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return errStructured
		}
	}
	return errStructured
}

func (p *sfParser) innerList() error {
	p.i++ // "("
	for {
		for p.eat(' ') {
		}
		if p.eat(')') {
			return p.parameters()
		}
		if _, err := p.item(""); err != nil {
			return err
		}
		if err := p.parameters(); err != nil {
			return err
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return errStructured
		}
	}
}

func (p *sfParser) parameters() error {
	for p.eat(';') {
		for p.eat(' ') {
		}
		key, err := p.key()
		if err != nil {
			return err
		}
		if p.eat('=') {
			if _, err := p.item(key); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseTargeted reads a targeted cache field: its directives, and false
// when the field is not a valid Dictionary, or a directive the cache knows
// has a value of the wrong type (a number where a boolean belongs, a
// string where a number does), which makes the whole field invalid.
func parseTargeted(lines []string) (Directives, bool) {
	members, err := parseDictionary(lines)
	if err != nil || len(members) == 0 {
		return Directives{}, false
	}
	d := ParseCacheControl(nil)
	for _, m := range members {
		switch m.key {
		case "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error":
			if m.kind != kindInteger || m.integer < 0 {
				return Directives{}, false
			}
			d.set(m.key, strconv.FormatInt(m.integer, 10), true, true)
		case "no-store", "no-cache", "private", "public", "must-revalidate", "proxy-revalidate", "must-understand", "immutable":
			if m.kind == kindBoolean && !m.boolean {
				continue // ?0: the directive is off
			}
			if m.kind != kindBoolean && m.key != "no-cache" && m.key != "private" {
				return Directives{}, false
			}
			d.set(m.key, "", false, true)
		}
	}
	return d, d.Present()
}
