package redact

import (
	"reflect"
	"strings"
)

// Fields holding secrets are tagged, so that adding a secret to a config
// struct is one tag, not an edit to every place that writes the struct out:
//
//	Password string            `secret:"true"` // the whole value is secret
//	URL      string            `secret:"url"`  // the password inside a URL is
//	Env      map[string]string `secret:"env"`  // values of keys named like secrets are
//
// The tag applies to strings and to lists and maps of strings.
const (
	tagName  = "secret"
	tagWhole = "true"
	tagURL   = "url"
	tagEnv   = "env"
)

// secretWords name environment variables whose values are secrets
// (RABBITMQ_DEFAULT_PASS, REDIS_PASSWORD, NATS_TOKEN, AWS_SECRET_ACCESS_KEY,
// RABBITMQ_ERLANG_COOKIE, ...). Masking one too many is harmless; one too
// few puts a password in a report.
var secretWords = []string{"PASS", "SECRET", "TOKEN", "KEY", "CRED", "AUTH", "COOKIE", "PRIVATE", "CERT"}

// envTag is the tag a map value under an env tag gets, by its key.
func envTag(key reflect.Value) string {
	if key.Kind() != reflect.String {
		return tagWhole
	}
	k := strings.ToUpper(key.String())
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return tagWhole
		}
	}
	return ""
}

// Copy returns a deep copy of *v with every tagged secret masked; v is not
// changed. Unexported fields are copied shallowly.
func Copy[T any](v *T) *T {
	if v == nil {
		return nil
	}
	out := reflect.New(reflect.TypeFor[T]())
	out.Elem().Set(deepCopy(reflect.ValueOf(v).Elem(), ""))
	return out.Interface().(*T)
}

// Secrets lists the secret values of the tagged fields of v (a struct or a
// pointer to one), for a Scrubber to find them in free text.
func Secrets(v any) []string {
	var out []string
	walk(reflect.ValueOf(v), "", func(s, tag string) {
		switch {
		case s == "":
		case tag == tagWhole:
			out = append(out, s)
		case tag == tagURL:
			out = append(out, urlPasswords(s)...)
		}
	})
	return out
}

// Strings rewrites, in place, every exported string reachable from v (a
// pointer) with f. Only strings f changes are written, so calling it on a
// value another goroutine reads is safe as long as nothing needs masking.
func Strings(v any, f func(string) string) {
	rewrite(reflect.ValueOf(v), f)
}

func mask(s, tag string) string {
	switch {
	case s == "":
		return s
	case tag == tagWhole:
		return Mask
	case tag == tagURL:
		return URL(s)
	}
	return s
}

// deepCopy copies v, masking strings under a secret tag.
func deepCopy(v reflect.Value, tag string) reflect.Value {
	t := v.Type()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(deepCopy(v.Elem(), tag))
		return p
	case reflect.Interface:
		// A configuration held as an interface (a driver's Config) is
		// copied as deeply as the value inside it.
		if v.IsNil() {
			return v
		}
		out := reflect.New(t).Elem()
		out.Set(deepCopy(v.Elem(), tag))
		return out
	case reflect.Struct:
		out := reflect.New(t).Elem()
		out.Set(v)
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			out.Field(i).Set(deepCopy(v.Field(i), f.Tag.Get(tagName)))
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i), tag))
		}
		return out
	case reflect.Array:
		out := reflect.New(t).Elem()
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i), tag))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			vt := tag
			if tag == tagEnv {
				vt = envTag(it.Key())
			}
			out.SetMapIndex(it.Key(), deepCopy(it.Value(), vt))
		}
		return out
	case reflect.String:
		out := reflect.New(t).Elem()
		out.SetString(mask(v.String(), tag))
		return out
	}
	return v
}

// walk calls f with every string reachable from v and the secret tag it sits
// under.
func walk(v reflect.Value, tag string, f func(s, tag string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), tag, f)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if fl := t.Field(i); fl.IsExported() {
				walk(v.Field(i), fl.Tag.Get(tagName), f)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walk(v.Index(i), tag, f)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			vt := tag
			if tag == tagEnv {
				vt = envTag(it.Key())
			}
			walk(it.Value(), vt, f)
		}
	case reflect.String:
		f(v.String(), tag)
	}
}

// rewrite applies f to every settable string under v.
func rewrite(v reflect.Value, f func(string) string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			rewrite(v.Elem(), f)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				rewrite(v.Field(i), f)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			rewrite(v.Index(i), f)
		}
	case reflect.Array:
		if v.CanSet() {
			for i := range v.Len() {
				rewrite(v.Index(i), f)
			}
		}
	case reflect.Map:
		// Map values are not addressable: rewrite a copy and store it back
		// only when it changed.
		for it := v.MapRange(); it.Next(); {
			val := it.Value()
			cp := deepCopy(val, "")
			rewrite(cp, f)
			if !reflect.DeepEqual(cp.Interface(), val.Interface()) {
				v.SetMapIndex(it.Key(), cp)
			}
		}
	case reflect.String:
		if s := v.String(); v.CanSet() {
			if n := f(s); n != s {
				v.SetString(n)
			}
		}
	}
}
