package scenarios

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mqcheck/mqcheck/processing"
)

// Processing makes the consumers idempotent consumers: each clean delivery
// goes through a dedupe store and makes a side effect, which is read back
// from the store at the end and counted beside what was received
// (processed-twice, processed-never; claim effectively-once).
type Processing struct {
	// Store: postgres (the processed key and the side effect, a row of an
	// effects table, in one transaction with the key unique, then the
	// broker's ack), redis (SET key NX EX ttl before the side effect, an
	// entry of a list: not atomic with it), memory (a map in each
	// consumer's process: lost when it crashes, not shared with other
	// consumers) or none (the side effect on every delivery).
	Store string `yaml:"store" json:"store"`
	// URL of the store's server (postgres, redis). Default: the machine's
	// own, postgres://postgres@127.0.0.1:5432/postgres or
	// redis://127.0.0.1:6379/0. A postgres run creates a database of its
	// own there (mqcheck_<run id>) and drops it at the end; a redis run
	// uses keys under mqcheck:<run id>: and deletes them.
	URL string `yaml:"url,omitempty" json:"url,omitempty" secret:"url"`
	// TTL of a redis dedupe key (default 1h). It must outlast the broker's
	// redelivery interval, or a redelivery finds the key gone and is
	// processed again.
	TTL Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// Keep the store's database or keys at the end, to look at them.
	Keep bool `yaml:"keep,omitempty" json:"keep,omitempty"`
	// Target exec starts a private server for the store (redis: the
	// machine's redis-server on a free port, nothing kept on disk),
	// stopped at the end; a store-pause fault can freeze it. Default: the
	// server at url.
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
}

// FaultStorePause freezes the processing store's private server (SIGSTOP)
// for the fault's length: the consumers wait on it.
const FaultStorePause = "store-pause"

// Enabled reports whether the consumers process with a store.
func (p Processing) Enabled() bool { return p.Store != "" }

// ClaimEffectivelyOnce is what an idempotent consumer promises: every
// acknowledged message processed exactly once, whatever the broker
// delivered twice (consumers.processing).
const ClaimEffectivelyOnce = "effectively-once"

func (s *Scenario) validateProcessing(p *problems) {
	pr := s.Consumers.Processing
	const path = "consumers.processing"
	if !pr.Enabled() {
		if pr.URL != "" || pr.TTL != 0 || pr.Keep {
			p.add(path+".store", "is required with the rest of consumers.processing (%s)", strings.Join(processing.Kinds(), ", "))
		}
	} else if !slices.Contains(processing.Kinds(), pr.Store) {
		p.add(path+".store", "unknown store %q, %s", pr.Store, suggestList(pr.Store, processing.Kinds()))
	} else {
		server := pr.Store == processing.Postgres || pr.Store == processing.Redis
		if pr.URL != "" && !server {
			p.add(path+".url", "applies to stores postgres and redis only (%s has no server)", pr.Store)
		}
		if pr.Keep && !server {
			p.add(path+".keep", "applies to stores postgres and redis only (%s has no server)", pr.Store)
		}
		switch {
		case pr.Target == "":
		case pr.Target != TargetExec:
			p.add(path+".target", "unknown target %q: exec (a private server mqcheck starts), or leave it out for the server at url", pr.Target)
		case pr.Store != processing.Redis:
			p.add(path+".target", "exec starts a private redis-server: store redis only")
		case pr.URL != "":
			p.add(path+".url", "is set but consumers.processing.target is exec (mqcheck starts the server)")
		case pr.Keep:
			p.add(path+".keep", "a private server (target exec) is stopped with its keys at the end")
		}
		switch {
		case pr.TTL < 0:
			p.add(path+".ttl", "must not be negative, got %s", pr.TTL)
		case pr.TTL != 0 && pr.Store != processing.Redis:
			p.add(path+".ttl", "applies to store redis only")
		}
		if s.Consumers.Count == 0 {
			p.add(path, "needs consumers (consumers.count is 0)")
		}
	}
	for i, c := range s.Claims {
		if c == ClaimEffectivelyOnce && !pr.Enabled() {
			p.add("claims."+strconv.Itoa(i), "effectively-once judges the side effects of consumers.processing, and this scenario has none "+
				"(add consumers.processing: {store: postgres})")
		}
	}
	for i, f := range s.Faults {
		if f.Kind == FaultStorePause && (!pr.Enabled() || pr.Target != TargetExec) {
			p.add("faults."+strconv.Itoa(i)+".kind", "store-pause freezes the processing store's private server: "+
				"it needs consumers.processing with target exec (store redis)")
		}
		fpath := "faults." + strconv.Itoa(i) + ".crash_point"
		switch {
		case f.CrashPoint == "":
		case f.Kind != FaultConsumerCrash:
			p.add(fpath, "applies to kind consumer-crash only")
		case !slices.Contains(processing.Points(), f.CrashPoint):
			p.add(fpath, "unknown crash point %q, %s", f.CrashPoint, suggestList(f.CrashPoint, processing.Points()))
		case !pr.Enabled():
			p.add(fpath, "is a point of the consumers' processing, and consumers.processing is not set")
		case f.CrashPoint == processing.PointAfterDedupe && pr.Store == processing.None:
			p.add(fpath, "after-dedupe needs a dedupe step, and store none has none (postgres, redis or memory)")
		}
	}
}
