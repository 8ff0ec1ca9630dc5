package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/bench"
)

// listValue is a repeatable flag of URLs, which may also be
// comma-separated.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(v string) error {
	urls := splitList(v)
	for _, u := range urls {
		if err := checkURL(u); err != nil {
			return err
		}
	}
	*l = append(*l, urls...)
	return nil
}

// compareValue collects --compare name=URL[,URL...] deployments.
type compareValue struct{ deps []bench.Deployment }

func (c *compareValue) String() string {
	var parts []string
	for _, d := range c.deps {
		parts = append(parts, d.Name+"="+strings.Join(d.Targets, ","))
	}
	return strings.Join(parts, ";")
}

func (c *compareValue) Set(v string) error {
	var deps []bench.Deployment
	for one := range strings.SplitSeq(v, ";") {
		name, urls, ok := strings.Cut(strings.TrimSpace(one), "=")
		if !ok || name == "" || urls == "" {
			return fmt.Errorf("want name=URL[,URL...], got %q", one)
		}
		named := func(d bench.Deployment) bool { return d.Name == name }
		if slices.ContainsFunc(c.deps, named) || slices.ContainsFunc(deps, named) {
			return fmt.Errorf("deployment %q given twice", name)
		}
		var l listValue
		if err := l.Set(urls); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		deps = append(deps, bench.Deployment{Name: name, Targets: l})
	}
	c.deps = append(c.deps, deps...)
	return nil
}

// kill is one --kill NODE@TIME.
type kill struct {
	node int // 1-based, as printed
	at   time.Duration
}

// killValue collects --kill faults; comma-separated values are allowed, for
// the environment twin.
type killValue []kill

func (k *killValue) String() string {
	var parts []string
	for _, x := range *k {
		parts = append(parts, fmt.Sprintf("%d@%v", x.node, x.at))
	}
	return strings.Join(parts, ",")
}

func (k *killValue) Set(v string) error {
	var kills []kill
	for one := range strings.SplitSeq(v, ",") {
		node, at, ok := strings.Cut(strings.TrimSpace(one), "@")
		n, err := strconv.Atoi(node)
		if !ok || err != nil || n < 1 {
			return fmt.Errorf("want NODE@TIME with NODE from 1, e.g. 2@5s; got %q", one)
		}
		d, err := parseDuration(at)
		if err != nil || d < 0 {
			return fmt.Errorf("bad time in %q: want a duration such as 5s", one)
		}
		kills = append(kills, kill{node: n, at: d})
	}
	*k = append(*k, kills...)
	slices.SortStableFunc(*k, func(a, b kill) int { return int(a.at - b.at) })
	return nil
}
