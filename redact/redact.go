// Package redact keeps secrets (passwords in broker URLs, SASL passwords) out
// of everything mqcheck writes: logs, results, the run directory, reports.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask is what a secret is replaced with.
const Mask = "***"

// minTextSecret is the shortest secret searched for in free text. A shorter
// one would mask innocent substrings everywhere ("ab" in "table"); it is
// still masked where mqcheck knows it is a secret (tagged fields, URLs).
const minTextSecret = 4

// userinfo matches "scheme://user:password@" (scheme, user, password).
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)([^/\s:@]*):([^\s@]*)@`)

// URL masks the password of every URL in s ("amqp://u:***@host"). It works
// on lists ("a:9092,b:9092") and on free text such as error messages, where a
// client library quoted the URL it dialled.
func URL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return userinfo.ReplaceAllStringFunc(s, func(m string) string {
		p := userinfo.FindStringSubmatch(m)
		return p[1] + maskUser(p[2], p[3]) + ":" + Mask + "@"
	})
}

// maskUser is the one rule for the user part of a URL, wherever mqcheck
// writes one: the user is kept, so a reader can still tell which account
// was used, unless it is the password itself (guest:guest), which the
// Scrubber masks wherever it appears.
func maskUser(user, password string) string {
	if user != "" && user == password {
		return Mask
	}
	return user
}

// urlPasswords returns the passwords written in the URLs of s, as written and
// percent-decoded: an error message may quote either form.
func urlPasswords(s string) []string {
	var out []string
	for _, m := range userinfo.FindAllStringSubmatch(s, -1) {
		pw := m[3]
		if pw == "" || pw == Mask {
			continue
		}
		out = append(out, pw)
		if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
			out = append(out, dec)
		}
	}
	return out
}

// Scrubber masks known secret values and URL passwords in free text. The
// zero value and nil mask URL passwords only.
type Scrubber struct {
	r *strings.Replacer
}

// NewScrubber returns a Scrubber for the given secret values (see Secrets).
func NewScrubber(secrets ...string) *Scrubber {
	var pairs []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minTextSecret || s == Mask || seen[s] {
			continue
		}
		seen[s] = true
		pairs = append(pairs, s, Mask)
	}
	if len(pairs) == 0 {
		return &Scrubber{}
	}
	return &Scrubber{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret masked.
func (sc *Scrubber) String(s string) string {
	if sc != nil && sc.r != nil {
		s = sc.r.Replace(s)
	}
	return URL(s)
}

// Error wraps err so that its message is scrubbed; errors.Is and errors.As
// still see the original chain.
func (sc *Scrubber) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := sc.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
