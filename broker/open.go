package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Opener opens one target of a kind for a configuration OpenTarget has
// prepared.
type Opener[P any] func(ctx context.Context, cfg P, spec Spec, env Env) (*Target, error)

// TargetOpener names an Opener by its target (TargetEmbedded, ...).
type TargetOpener[P any] struct {
	Target string
	Open   Opener[P]
}

// OpenTarget is the body of a kind's Open: it copies c (nil: an empty
// configuration), fills its defaults, checks it and its fit with spec, and
// calls the opener of spec.Target, the first one when spec.Target is "".
// The copy leaves the caller's configuration as it was.
func OpenTarget[T any, P interface {
	*T
	Config
	Defaulter
	SpecChecker
}](ctx context.Context, kind string, c P, spec Spec, env Env, openers ...TargetOpener[P]) (*Target, error) {
	cfg := P(new(T))
	if c != nil {
		*cfg = *c
	}
	cfg.ApplyDefaults()
	if err := errors.Join(cfg.Validate(), cfg.CheckSpec(spec)); err != nil {
		return nil, fmt.Errorf("opening %s target: %w: %w", kind, ErrConfig, err)
	}
	names := make([]string, len(openers))
	for i, o := range openers {
		if o.Target == spec.Target || (spec.Target == "" && i == 0) {
			return o.Open(ctx, cfg, spec, env)
		}
		names[i] = o.Target
	}
	return nil, fmt.Errorf("opening %s target: %w: target %q is not supported (%s)", kind, ErrConfig, spec.Target, strings.Join(names, ", "))
}
