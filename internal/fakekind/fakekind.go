// Package fakekind is a broker kind that exists only for tests: it proves that a new
// kind is one folder plus an entry in a list of kinds (loading, validation, schema, CLI).
package fakekind

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/units"
)

// Name is the kind's broker.kind.
const Name = "fake"

// Config configures the fake broker. It drives the memory broker under
// another name and its own settings, with no fault knobs.
type Config struct {
	// Lanes are the ordering domains messages spread over. Default 2.
	Lanes int `yaml:"lanes,omitempty" json:"lanes,omitempty"`
	// Order: lanes (each subscription's consumers share the lanes) or
	// queue (competing consumers on one queue). Default lanes.
	Order string `yaml:"order,omitempty" json:"order,omitempty"`
	// Delay holds back every publish confirm.
	Delay units.Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
	// Token is a secret the scenario must never show.
	Token string `yaml:"token,omitempty" json:"token,omitempty" secret:"true"`
}

var orders = []string{"lanes", "queue"}

// ApplyDefaults fills the unset fields.
func (c *Config) ApplyDefaults() {
	if c.Order == "" {
		c.Order = "lanes"
	}
	if c.Lanes == 0 && c.Order == "lanes" {
		c.Lanes = 2
	}
}

// Enums lists the orders.
func (c *Config) Enums() map[string][]string {
	return map[string][]string{"order": slices.Clone(orders)}
}

// Validate checks every field.
func (c *Config) Validate() error {
	var errs []error
	if c.Lanes < 0 || c.Lanes > 64 {
		errs = append(errs, broker.Problem("broker.fake.lanes", "must be between 1 and 64, got %d", c.Lanes))
	}
	if c.Order != "" && !slices.Contains(orders, c.Order) {
		errs = append(errs, broker.Problem("broker.fake.order", "unknown order %q (valid: lanes, queue)", c.Order))
	}
	if c.Order == "queue" && c.Lanes > 1 {
		errs = append(errs, broker.Problem("broker.fake.lanes", "order queue has one lane, got %d", c.Lanes))
	}
	if c.Delay < 0 {
		errs = append(errs, broker.Problem("broker.fake.delay", "must not be negative, got %s", c.Delay))
	}
	return errors.Join(errs...)
}

// CheckSpec rejects more subscriptions than lanes: a made-up rule, to show
// that a kind sees the broker-independent facts.
func (c *Config) CheckSpec(spec broker.Spec) error {
	if c.Lanes > 0 && spec.Subscriptions > c.Lanes {
		return broker.Problem("consumers.subscriptions", "the fake broker serves at most one subscription per lane (%d lanes), got %d",
			c.Lanes, spec.Subscriptions)
	}
	return broker.NoDeadLetter(Name, spec)
}

// Open starts the fake broker: the memory broker configured from c.
func Open(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	d := Config{}
	if c != nil {
		d = *c
	}
	d.ApplyDefaults()
	if err := errors.Join(d.Validate(), d.CheckSpec(spec)); err != nil {
		return nil, fmt.Errorf("fake broker: %w: %w", broker.ErrConfig, err)
	}
	mode := memory.ModePartitioned
	if d.Order == "queue" {
		mode = memory.ModeQueue
	}
	t, err := memory.Open(ctx, &memory.Config{Partitions: d.Lanes, Mode: mode, AckLatency: d.Delay}, spec, env)
	if err != nil {
		return nil, fmt.Errorf("fake broker: %w", err)
	}
	t.Description = "fake broker (" + t.Description + ")"
	return t, nil
}

// Kind is the fake kind's entry for a list of kinds.
func Kind() broker.Kind {
	return broker.Kind{
		Name:        Name,
		Title:       "Fake",
		Description: "a made-up broker kind for tests, driving the memory broker",
		Targets:     []string{broker.TargetEmbedded},
		NewConfig:   func() broker.Config { return &Config{} },
		Open:        broker.Typed(Open),
	}
}
