package scenarios

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// setSource starts the Source of problems Resolve traces to a --set.
const setSource = "--set"

// Set applies one --set override. Path is a dotted YAML path: field names as
// in the file, list indexes as numbers ("faults.0.at"; the index one past
// the end appends an entry). Value is parsed as the file's value would be:
// durations, sizes and rates by their own syntax, strings verbatim, lists of
// strings as "a,b", anything else as YAML ("broker.memory={partitions: 2}").
// Missing sections (broker.memory) are created on the way. On error the
// scenario is unchanged; the error names the path (its Source is empty: the
// caller knows which --set it applied). Defaults whose zero value means nothing (claims,
// target, the broker section of the kind) are filled again afterwards; an
// explicit 0 stays for Validate to judge.
func (s *Scenario) Set(path, value string) error { return Loader{}.Set(s, path, value) }

// Set is Scenario.Set for l's kinds.
func (l Loader) Set(s *Scenario, path, value string) error {
	if _, err := l.set(s, path, value); err != nil {
		return err
	}
	l.applyDefaults(s, func(string) bool { return true })
	return nil
}

// set applies the override without defaults and returns the paths it gave
// a non-null value. It works on the document's shape, where the kinds'
// sections are fields (broker.kafka).
func (l Loader) set(s *Scenario, path, value string) ([]string, error) {
	path = strings.TrimSpace(path)
	if path == "" {
		return nil, &Error{Msg: "empty path (write e.g. producers.rate=5k/s)"}
	}
	segs := strings.Split(path, ".")
	for _, seg := range segs {
		if seg == "" {
			return nil, &Error{Field: path, Msg: "empty segment in path (write e.g. broker.memory.partitions)"}
		}
	}
	st := &setter{value: value}
	dt := l.docTypes()
	doc := dt.toDoc(s)
	if err := st.into(doc.Elem(), segs, ""); err != nil {
		return nil, err
	}
	*s = *dt.fromDoc(doc)
	return st.given, nil
}

type setter struct {
	value string
	given []string
}

func (st *setter) fail(path, format string, args ...any) error {
	return &Error{Field: path, Msg: fmt.Sprintf(format, args...)}
}

// isLeaf reports types that take a whole value and have no addressable
// parts, even when their Go kind is a struct.
func isLeaf(t reflect.Type) bool {
	return t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType) || hasYAMLUnmarshaler(t)
}

// into walks v (addressable) down the remaining segments and assigns the
// value at the end; walked is the path so far.
func (st *setter) into(v reflect.Value, segs []string, walked string) error {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if !v.IsNil() {
			return st.into(v.Elem(), segs, walked)
		}
		v.Set(reflect.New(t.Elem()))
		err := st.into(v.Elem(), segs, walked)
		if err != nil {
			v.SetZero()
		}
		return err
	}
	if len(segs) == 0 {
		return st.assign(v, walked)
	}
	seg, p := segs[0], joinPath(walked, segs[0])
	if isLeaf(t) {
		return st.fail(walked, "is %s and has no field %q", typeHint(t), seg)
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := fieldsOf(t)
		f, ok := findField(fields, seg)
		if !ok {
			return st.fail(p, "unknown field%s", suggest(seg, fieldNames(fields)))
		}
		return st.into(v.FieldByIndex(f.index), segs[1:], p)
	case reflect.Slice:
		i, err := strconv.Atoi(seg)
		n := v.Len()
		if err != nil || i < 0 {
			return st.fail(p, "%s is a list: expected an index (0 to %d), got %q", walked, n, seg)
		}
		if i > n {
			return st.fail(p, "index %d is past the end of %s (%d entries; index %d appends one)", i, walked, n, n)
		}
		if i < n {
			return st.into(v.Index(i), segs[1:], p)
		}
		old := v.Interface()
		v.Set(reflect.Append(v, reflect.Zero(t.Elem())))
		if err := st.into(v.Index(i), segs[1:], p); err != nil {
			v.Set(reflect.ValueOf(old))
			return err
		}
		return nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return st.fail(walked, "keys of %s cannot be set with --set", t)
		}
		key := reflect.New(t.Key()).Elem()
		key.SetString(seg)
		elem := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(key); old.IsValid() {
			elem.Set(old)
		}
		if err := st.into(elem, segs[1:], p); err != nil {
			return err
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		v.SetMapIndex(key, elem)
		return nil
	}
	return st.fail(walked, "is %s and has no field %q", typeHint(t), seg)
}

// assign parses the value for v's type and stores it.
func (st *setter) assign(v reflect.Value, path string) error {
	t := v.Type()
	switch {
	case isScalarLeaf(t):
		if err := scalarInto(v, st.value); err != nil {
			return st.fail(path, "%s", err)
		}
		st.given = append(st.given, path)
		return nil
	case t.Kind() == reflect.Slice && isScalarLeaf(t.Elem()) && !strings.HasPrefix(strings.TrimSpace(st.value), "["):
		// "claims=at-least-once,ordered": the shell-friendly list form.
		var parts []string
		if strings.TrimSpace(st.value) != "" {
			parts = strings.Split(st.value, ",")
		}
		list := reflect.MakeSlice(t, len(parts), len(parts))
		for i, part := range parts {
			if err := scalarInto(list.Index(i), strings.TrimSpace(part)); err != nil {
				return st.fail(joinPath(path, strconv.Itoa(i)), "%s", err)
			}
		}
		v.Set(list)
		st.given = append(st.given, path)
		return nil
	}
	return st.assignYAML(v, path)
}

// isScalarLeaf reports types whose --set value is taken verbatim: strings,
// and types with their own text syntax (Duration, Size, Rate). Parsing them
// as YAML first would turn "name=yes" into a bool and "a: b" into a map.
func isScalarLeaf(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if hasYAMLUnmarshaler(t) {
		return false
	}
	return t.Kind() == reflect.String || t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// scalarInto parses text exactly as the checker and decoder do for a YAML
// scalar of v's type.
func scalarInto(v reflect.Value, text string) error {
	if v.Kind() == reflect.Pointer {
		nv := reflect.New(v.Type().Elem())
		if err := scalarInto(nv.Elem(), text); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
	t := v.Type()
	switch {
	case t == durationType:
		d, err := ParseDuration(text)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		nv := reflect.New(t)
		if err := nv.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			return err
		}
		v.Set(nv.Elem())
	default:
		v.SetString(text)
	}
	return nil
}

// assignYAML parses the value as a YAML document, checks it with the same
// checker as files and decodes it strictly.
func (st *setter) assignYAML(v reflect.Value, path string) error {
	file, err := parser.ParseBytes([]byte(st.value), 0)
	if err != nil {
		return st.fail(path, "invalid value %q: %s", st.value, yamlError("", err, nil).Msg)
	}
	var body ast.Node
	for _, d := range file.Docs {
		if d == nil || isNil(d.Body) {
			continue
		}
		if body != nil {
			return st.fail(path, "invalid value %q: more than one YAML document", st.value)
		}
		body = d.Body
	}
	c := newChecker("")
	c.noLines = true
	c.check(body, v.Type(), path)
	if len(c.errs) > 0 {
		return c.errs
	}
	nv := reflect.New(v.Type())
	if !isNil(body) && body.Type() != ast.NullType {
		if err := yaml.NodeToValue(body, nv.Interface(), yaml.Strict()); err != nil {
			return st.fail(path, "%s", yamlError("", err, nil).Msg)
		}
		st.given = append(st.given, path)
	}
	v.Set(nv.Elem())
	for p := range c.given {
		st.given = append(st.given, p)
	}
	return nil
}
