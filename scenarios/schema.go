package scenarios

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// The checker walks the YAML syntax tree next to the Go type it will be
// decoded into and reports every unknown field and ill-typed value with its
// path and line. goccy/go-yaml's strict decoder still does the decoding (and
// stays as a backstop), but it stops at the first problem, reports unknown
// fields in random map order, and drops the position of errors returned by
// UnmarshalText ("duration: 30"). Walking the Go types by reflection keeps it
// right for whatever fields kafka.go and later broker sections grow.

var (
	scenarioType        = reflect.TypeFor[Scenario]()
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// fieldInfo is one struct field as YAML sees it.
type fieldInfo struct {
	name  string
	index []int
	typ   reflect.Type
}

// fieldsOf lists the YAML fields of a struct type, named the way
// goccy/go-yaml names them (yaml tag, else json tag, else the lower-cased Go
// name; "-" skipped; ",inline" structs flattened), so the checker, --set and
// the decoder agree on every name.
func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "" {
			tag = f.Tag.Get("json")
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if f.Type.Kind() == reflect.Struct && hasOption(opts, "inline") {
			for _, inner := range fieldsOf(f.Type) {
				inner.index = append([]int{i}, inner.index...)
				out = append(out, inner)
			}
			continue
		}
		out = append(out, fieldInfo{name: name, index: []int{i}, typ: f.Type})
	}
	return out
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

func findField(fs []fieldInfo, name string) (fieldInfo, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return fieldInfo{}, false
}

func fieldNames(fs []fieldInfo) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

type position struct{ line, col int }

type aliasKey struct {
	node ast.Node
	typ  reflect.Type
}

// checker collects problems and, as a by-product, where each field was
// written and which fields were given at all (an explicit 0 is kept so that
// Validate can reject it, an absent field gets its default).
type checker struct {
	source string
	// noLines drops positions: inside a --set value they would point into
	// the one-line value, not into any file.
	noLines bool
	errs    Errors
	given   map[string]bool
	lines   map[string]position
	anchors map[string]ast.Node
	// seen bounds alias expansion: each anchor is checked once per type, so
	// nested aliases ("billion laughs") cost linear time.
	seen map[aliasKey]bool
}

func newChecker(source string) *checker {
	return &checker{
		source:  source,
		given:   map[string]bool{},
		lines:   map[string]position{},
		anchors: map[string]ast.Node{},
		seen:    map[aliasKey]bool{},
	}
}

func posOf(n ast.Node) position {
	if isNil(n) {
		return position{}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return position{}
	}
	return position{tk.Position.Line, tk.Position.Column}
}

func (c *checker) fail(at ast.Node, path, format string, args ...any) {
	e := &Error{Source: c.source, Field: path, Msg: fmt.Sprintf(format, args...)}
	if !c.noLines {
		p := posOf(at)
		e.Line, e.Column = p.line, p.col
	}
	c.errs = append(c.errs, e)
}

// isNil reports a missing node, including a typed nil inside the interface.
func isNil(n ast.Node) bool {
	if n == nil {
		return true
	}
	v := reflect.ValueOf(n)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// resolve strips anchors and tags and follows aliases. It returns nil when
// there is nothing (more) to check: a null, an alias to an anchor it has not
// seen, or an alias already checked for this type.
func (c *checker) resolve(n ast.Node, t reflect.Type, path string) ast.Node {
	for range 64 {
		switch v := n.(type) {
		case *ast.AnchorNode:
			if v == nil {
				return nil
			}
			if name, ok := nodeText(v.Name); ok {
				c.anchors[name] = v.Value
			}
			n = v.Value
		case *ast.TagNode:
			if v == nil {
				return nil
			}
			n = v.Value
		case *ast.AliasNode:
			if v == nil {
				return nil
			}
			name, _ := nodeText(v.Value)
			target, ok := c.anchors[name]
			if !ok {
				// The decoder reports an undefined alias; an anchor in a
				// part the checker does not walk is no error.
				return nil
			}
			key := aliasKey{target, t}
			if c.seen[key] {
				return nil
			}
			c.seen[key] = true
			n = target
		default:
			if isNil(n) || n.Type() == ast.NullType {
				return nil
			}
			return n
		}
	}
	c.fail(n, path, "too many nested anchors, aliases or tags")
	return nil
}

// nodeText is the text of a scalar node as the user wrote it (without
// quotes), which is what goccy/go-yaml hands to UnmarshalText.
func nodeText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		if v == nil {
			return "", false
		}
		return v.Value, true
	case *ast.LiteralNode:
		if v == nil || v.Value == nil {
			return "", false
		}
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if isNil(n) {
			return "", false
		}
		if tk := n.GetToken(); tk != nil {
			return tk.Value, true
		}
	}
	return "", false
}

// describe names what the user wrote, for "expected X, got Y".
func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	if s, ok := nodeText(n); ok {
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return strconv.Quote(s)
	}
	return "a " + n.Type().YAMLName()
}

// typeHint says what a value of type t looks like in YAML.
func typeHint(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration](), durationType:
		return "a duration (e.g. 30s, 1m30s, 250ms)"
	case reflect.TypeFor[Size]():
		return "a size (e.g. 100, 1KiB, 4MiB)"
	case reflect.TypeFor[Rate]():
		return "a rate (e.g. 5k/s, 1000/s, max)"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeHint(t.Elem())
	case reflect.Struct:
		return "a mapping of fields (name: value)"
	case reflect.Map:
		return "a mapping (key: value)"
	case reflect.Slice, reflect.Array:
		return "a list ([a, b] or one \"- item\" per line)"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}

// hasYAMLUnmarshaler reports types that decode themselves from YAML; their
// syntax is theirs, so the checker leaves them to the decoder.
func hasYAMLUnmarshaler(t reflect.Type) bool {
	_, ok := reflect.PointerTo(t).MethodByName("UnmarshalYAML")
	return ok
}

func (c *checker) expected(n ast.Node, t reflect.Type, path string) {
	c.fail(n, path, "expected %s, got %s", typeHint(t), describe(n))
}

// check walks node n, to be decoded into a value of type t at path.
func (c *checker) check(n ast.Node, t reflect.Type, path string) {
	n = c.resolve(n, t, path)
	if n == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if hasYAMLUnmarshaler(t) {
		return
	}
	if t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		c.checkText(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		c.checkStruct(n, t, path)
	case reflect.Map:
		c.checkMap(n, t, path)
	case reflect.Slice, reflect.Array:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			c.expected(n, t, path)
			return
		}
		for i, e := range seq.Values {
			p := joinPath(path, strconv.Itoa(i))
			c.record(p, e, e)
			c.check(e, t.Elem(), p)
		}
	case reflect.Bool:
		if _, ok := n.(*ast.BoolNode); !ok {
			c.expected(n, t, path)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		c.checkInt(n, t, path)
	case reflect.Float32, reflect.Float64:
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		default:
			c.expected(n, t, path)
		}
	case reflect.String:
		if _, ok := nodeText(n); !ok {
			c.expected(n, t, path)
		}
	case reflect.Interface:
		// Anything decodes into an interface.
	default:
		c.fail(n, path, "cannot be set from YAML (Go type %s)", t)
	}
}

func (c *checker) checkText(n ast.Node, t reflect.Type, path string) {
	s, ok := nodeText(n)
	if !ok {
		c.expected(n, t, path)
		return
	}
	var err error
	if t == durationType {
		_, err = ParseDuration(s)
	} else {
		err = reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	if err != nil {
		c.fail(n, path, "%s", err)
	}
}

func (c *checker) checkInt(n ast.Node, t reflect.Type, path string) {
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		// The lexer leaves integers too big for 64 bits as strings.
		if s, isText := n.(*ast.StringNode); isText && isDigits(strings.TrimPrefix(s.Value, "-")) {
			c.fail(n, path, "%s is out of range for %s", describe(n), typeHint(t))
			return
		}
		c.expected(n, t, path)
		return
	}
	v := reflect.New(t).Elem()
	outOfRange := false
	switch x := in.Value.(type) {
	case int64:
		if v.CanInt() {
			outOfRange = v.OverflowInt(x)
		} else {
			outOfRange = x < 0 || v.OverflowUint(uint64(x))
		}
	case uint64:
		if v.CanInt() {
			outOfRange = x > 1<<63-1 || v.OverflowInt(int64(x))
		} else {
			outOfRange = v.OverflowUint(x)
		}
	default:
		outOfRange = true
	}
	if outOfRange {
		c.fail(n, path, "%s is out of range for %s", describe(n), typeHint(t))
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// entries returns the key/value pairs of a mapping node.
func entries(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := n.(type) {
	case *ast.MappingNode:
		if v == nil {
			return nil, false
		}
		return v.Values, true
	case *ast.MappingValueNode:
		if v == nil {
			return nil, false
		}
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

// keyOf returns the key of a mapping entry as text; merge is true for "<<".
func keyOf(e *ast.MappingValueNode) (key string, merge, ok bool) {
	if e == nil || isNil(e.Key) {
		return "", false, false
	}
	if e.Key.IsMergeKey() {
		return "", true, true
	}
	var k ast.Node = e.Key
	if mk, isKey := k.(*ast.MappingKeyNode); isKey {
		k = mk.Value
	}
	if tn, isTag := k.(*ast.TagNode); isTag && tn != nil {
		k = tn.Value
	}
	s, ok := nodeText(k)
	return s, false, ok
}

func (c *checker) record(path string, at, value ast.Node) {
	if _, dup := c.lines[path]; !dup {
		c.lines[path] = posOf(at)
	}
	if !isNil(value) && value.Type() != ast.NullType {
		c.given[path] = true
	}
}

func (c *checker) checkStruct(n ast.Node, t reflect.Type, path string) {
	es, ok := entries(n)
	if !ok {
		c.expected(n, t, path)
		return
	}
	fields := fieldsOf(t)
	for _, e := range es {
		key, merge, ok := keyOf(e)
		switch {
		case !ok:
			c.fail(e, path, "field names must be plain strings")
		case merge:
			c.checkMerge(e.Value, t, path)
		default:
			p := joinPath(path, key)
			f, known := findField(fields, key)
			if !known {
				c.fail(e.Key, p, "unknown field%s", suggest(key, fieldNames(fields)))
				continue
			}
			c.record(p, e.Key, e.Value)
			c.check(e.Value, f.typ, p)
		}
	}
}

// checkMerge checks the mappings merged in with "<<: *anchor" as if their
// fields were written in place.
func (c *checker) checkMerge(n ast.Node, t reflect.Type, path string) {
	n = c.resolve(n, t, path)
	if n == nil {
		return
	}
	if seq, ok := n.(*ast.SequenceNode); ok {
		// "<<: [*a, *b]": a list of mappings, not of lists.
		for _, e := range seq.Values {
			if e = c.resolve(e, t, path); e != nil {
				c.checkStruct(e, t, path)
			}
		}
		return
	}
	c.checkStruct(n, t, path)
}

func (c *checker) checkMap(n ast.Node, t reflect.Type, path string) {
	es, ok := entries(n)
	if !ok {
		c.expected(n, t, path)
		return
	}
	for _, e := range es {
		key, merge, ok := keyOf(e)
		switch {
		case !ok:
			c.fail(e, path, "keys must be plain strings")
		case merge:
			// Merged maps decode like the map itself.
			c.check(e.Value, t, path)
		default:
			p := joinPath(path, key)
			c.check(e.Key, t.Key(), p)
			c.record(p, e.Key, e.Value)
			c.check(e.Value, t.Elem(), p)
		}
	}
}
