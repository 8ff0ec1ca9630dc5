package bench

import (
	"context"
	"errors"
	"fmt"
)

// Deployment is one of the deployments a comparison runs against.
type Deployment struct {
	// Name labels its column, e.g. "edgecache" or "nginx".
	Name string
	// Targets are its base URLs, as Config.Targets.
	Targets []string
}

// Compare runs cfg against each deployment in turn, the same workload with
// the same seed, so that every deployment is asked for the same objects in
// the same order per worker. cfg.Targets is ignored. Deployments run one
// after the other, never at once, so they do not compete for this machine.
//
// A deployment that cannot be run (a bad URL) ends the comparison with that
// error; a deployment that serves wrong bytes does not stop the others,
// and the returned error then wraps ErrMismatch. The results are in the
// order of deps; the first is the baseline of the report's ratios.
func Compare(ctx context.Context, cfg Config, deps []Deployment) ([]*Result, error) {
	if len(deps) == 0 {
		return nil, fieldErr("Targets", "no deployment to compare")
	}
	var results []*Result
	var errs []error
	for _, d := range deps {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		c := cfg
		c.Targets = d.Targets
		res, err := Run(ctx, c)
		if res == nil {
			return results, fmt.Errorf("%s: %w", d.Name, err)
		}
		res.Name = d.Name
		if err != nil {
			errs = append(errs, res.Err())
		}
		results = append(results, res)
	}
	return results, errors.Join(errs...)
}
