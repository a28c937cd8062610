package scenarios

import "github.com/mqcheck/mqcheck/redact"

// Secret fields carry the tag `secret:"true"` (the whole value) or
// `secret:"url"` (the password inside a URL); these functions find them by
// the tag, so a new secret field is safe the moment it is tagged.

// Redacted returns a deep copy of s with every secret shown as ***: the
// form in which a scenario leaves the process (the run directory's
// scenario.yaml, --print). s is not changed: the drivers need the real
// values.
func (s *Scenario) Redacted() *Scenario { return redact.Copy(s) }

// Secrets lists the scenario's secret values (passwords, also those written
// inside broker.url).
func (s *Scenario) Secrets() []string { return redact.Secrets(s) }

// Scrubber masks the scenario's secrets, and any URL password, in free text
// such as log lines and error messages.
func (s *Scenario) Scrubber() *redact.Scrubber { return redact.NewScrubber(s.Secrets()...) }
