package scenarios

import (
	_ "embed"
	"encoding"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/processing"
)

// SchemaURL is where editors fetch the schema of scenario files from: the
// committed scenario.schema.json. A file opts in with a first line
//
//	# yaml-language-server: $schema=https://raw.githubusercontent.com/mqcheck/mqcheck/main/scenarios/scenario.schema.json
//
// (or a path to `mqcheck schema > scenario.schema.json`, for offline use).
const SchemaURL = "https://raw.githubusercontent.com/mqcheck/mqcheck/main/scenarios/scenario.schema.json"

// Modeline is the comment that points YAML editors at the schema.
const Modeline = "# yaml-language-server: $schema=" + SchemaURL

// schemaJSON is the committed schema. TestSchemaUpToDate regenerates it
// from the Go types (and their doc comments, which a binary no longer
// has) and fails when it is stale: go test ./scenarios -update.
//
//go:embed scenario.schema.json
var schemaJSON []byte

// JSONSchema returns the JSON Schema of scenario files.
func JSONSchema() []byte { return schemaJSON }

// Schemas of the types with their own text syntax. YAML gives a bare
// number for "message_size: 100" or "rate: 1000", so those accept numbers
// too. Patterns are never stricter than the parsers (an editor must not
// flag a file mqcheck accepts); a size whose fraction does not come out a
// whole number of bytes ("1.5") is left for mqcheck validate to report.
var (
	durationPattern = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	sizePattern     = `^ *([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)? *(KiB|MiB|GiB|kB|KB|MB|GB|B)? *$`
	ratePattern     = `^ *(max|([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[kM]? ?(/s)?) *$`
)

func textTypeSchema(t reflect.Type) *jsonschema.Schema {
	zero := json.Number("0")
	switch t {
	case reflect.TypeFor[Duration]():
		return &jsonschema.Schema{Title: "duration",
			AnyOf: []*jsonschema.Schema{
				{Type: "string", Pattern: durationPattern,
					Description: "A duration with a unit: 250ms, 30s, 1m30s, 2h (a bare number other than 0 is rejected)."},
				{Type: "integer", Const: 0},
			},
			Examples: []any{"30s", "1m30s", "250ms"}}
	case reflect.TypeFor[Size]():
		return &jsonschema.Schema{Title: "size",
			AnyOf: []*jsonschema.Schema{
				{Type: "string", Pattern: sizePattern,
					Description: "A byte count, optionally with a unit: 100, 1KiB, 4MiB, 1.5kB."},
				{Type: "integer", Minimum: zero},
			},
			Examples: []any{"1KiB", "4MiB", 100}}
	case reflect.TypeFor[Rate]():
		return &jsonschema.Schema{Title: "rate",
			AnyOf: []*jsonschema.Schema{
				{Type: "string", Pattern: ratePattern,
					Description: "Messages per second in total: 500/s, 5k/s, 1.5M/s; max (or 0) runs closed loop, as fast as the broker confirms."},
				{Type: "number", Minimum: zero},
			},
			Examples: []any{"5k/s", "1000/s", "max"}}
	}
	return nil
}

// schemaEnums lists the values of scenario fields that take one of a fixed
// set, by definition and property; the lists are the ones Validate checks.
// Drivers list their own (broker.Enumerator).
func schemaEnums(ks broker.Kinds) map[string]map[string][]string {
	return map[string]map[string][]string{
		"Scenario":   {"claims": KnownClaims()},
		"Broker":     {"kind": ks.Names(), "target": knownTargets(ks)},
		"Producers":  {"checksum": {ChecksumPayload, ChecksumHeader}},
		"Consumers":  {"fail_action": {FailRequeue, FailDeadLetter}},
		"Fault":      {"kind": KnownFaultKinds(), "crash_point": processing.Points()},
		"Processing": {"store": processing.Kinds(), "target": {TargetExec}},
	}
}

// schemaDefaults are the values ApplyDefaults fills in, by definition.
// Defaults that depend on another field (broker.target on the kind,
// kafka.max_in_flight on idempotence) are shown for the default of that
// field, as ApplyDefaults computes them.
func schemaDefaults() map[string]any {
	s := &Scenario{}
	// Defaults of the scenario's own fields only: the kind's section is
	// described by its own definition.
	Loader{Kinds: broker.Kinds{}}.ApplyDefaults(s)
	return map[string]any{"Scenario": s, "Producers": &s.Producers, "Consumers": &s.Consumers}
}

// GenerateJSONSchema builds the JSON Schema of scenario files for the
// default kinds; see Loader.GenerateJSONSchema.
func GenerateJSONSchema(sourceDir string) ([]byte, error) {
	return Loader{}.GenerateJSONSchema(sourceDir)
}

// JSONSchema returns the JSON Schema of scenario files for l's kinds: the
// committed one (with every description) for the default kinds, else one
// generated from the Go types without descriptions.
func (l Loader) JSONSchema() ([]byte, error) {
	if l.Kinds == nil {
		return JSONSchema(), nil
	}
	return l.GenerateJSONSchema("")
}

// schemaNamer names the schema definitions of the kinds' configurations
// after the kind: kafka.Config is "Kafka", kafka.SASL "KafkaSASL".
func schemaNamer(ks broker.Kinds) func(reflect.Type) string {
	titles := map[string]string{}
	for _, k := range ks {
		t := configType(k).Elem()
		title := k.Title
		if title == "" {
			title = strings.ToUpper(k.Name[:1]) + k.Name[1:]
		}
		titles[t.PkgPath()] = title
	}
	return func(t reflect.Type) string {
		if title, ok := titles[t.PkgPath()]; ok && t.Name() != "" {
			return title + strings.TrimPrefix(t.Name(), "Config")
		}
		return ""
	}
}

// GenerateJSONSchema builds the JSON Schema of scenario files from the Go
// types: the names YAML uses, every known value, defaults, and the types
// with their own syntax (durations, sizes, rates) as patterns; the broker
// section gets one property per kind, described by the kind's Config. With
// sourceDir (this package's source, relative) field descriptions come from
// the doc comments of this package and of the drivers, with Go names
// turned into YAML names.
func (l Loader) GenerateJSONSchema(sourceDir string) ([]byte, error) {
	ks := l.kinds()
	if err := ks.Check(); err != nil {
		return nil, err
	}
	namer := schemaNamer(ks)
	newReflector := func(expanded bool) *jsonschema.Reflector {
		return &jsonschema.Reflector{
			FieldNameTag:               "yaml",
			RequiredFromJSONSchemaTags: true,
			ExpandedStruct:             expanded,
			BaseSchemaID:               jsonschema.ID(SchemaURL),
			Mapper:                     textTypeSchema,
			Namer:                      namer,
		}
	}
	r := newReflector(true)
	if sourceDir != "" {
		if err := addComments(r, sourceDir, ks); err != nil {
			return nil, fmt.Errorf("reading doc comments: %w", err)
		}
		yamlNames(r.CommentMap, ks)
		for _, k := range ks {
			// "Config configures ..." describes broker.<kind>: name it so.
			key := configType(k).Elem().PkgPath() + ".Config"
			if c, ok := strings.CutPrefix(r.CommentMap[key], "Config "); ok {
				r.CommentMap[key] = k.Name + " " + c
			}
		}
	}
	root := r.Reflect(&Scenario{})
	root.ID = jsonschema.ID(SchemaURL)
	root.Title = "mqcheck scenario"
	root.Required = []string{"broker"}
	defs := map[string]*jsonschema.Schema{"Scenario": root}
	for name, d := range root.Definitions {
		defs[name] = d
	}
	b := defs["Broker"]
	if b == nil {
		return nil, fmt.Errorf("schema: no Broker definition")
	}
	b.Required = []string{"kind"}
	for _, k := range ks {
		kr := newReflector(false)
		kr.CommentMap = r.CommentMap
		sub := kr.ReflectFromType(configType(k))
		for name, d := range sub.Definitions {
			if _, dup := root.Definitions[name]; dup {
				return nil, fmt.Errorf("schema: kind %s: definition %s is defined twice", k.Name, name)
			}
			root.Definitions[name], defs[name] = d, d
		}
		b.Properties.Set(k.Name, &jsonschema.Schema{Ref: sub.Ref})
	}
	for name, props := range schemaEnums(ks) {
		for prop, values := range props {
			if err := setEnum(defs[name], prop, values); err != nil {
				return nil, fmt.Errorf("schema %s: %w", name, err)
			}
		}
	}
	if err := kindEnums(defs, ks, namer); err != nil {
		return nil, err
	}
	for name, v := range schemaDefaults() {
		if err := setDefaults(defs[name], v); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
	}
	for _, k := range ks {
		c := k.NewConfig()
		if d, ok := c.(broker.Defaulter); ok {
			d.ApplyDefaults()
			if err := setDefaults(defs[namer(configType(k).Elem())], c); err != nil {
				return nil, fmt.Errorf("schema %s: %w", k.Name, err)
			}
		}
	}
	markSecrets(defs, ks, namer)
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal schema: %w", err)
	}
	return append(out, '\n'), nil
}

// addComments reads the doc comments of this package (sourceDir) and of
// every kind's package in this module, found beside it.
func addComments(r *jsonschema.Reflector, sourceDir string, ks broker.Kinds) error {
	self := reflect.TypeFor[Scenario]().PkgPath()
	if err := r.AddGoComments(self, sourceDir); err != nil {
		return err
	}
	module := path.Dir(self)
	for _, k := range ks {
		pkg := configType(k).Elem().PkgPath()
		rel, ok := strings.CutPrefix(pkg, module+"/")
		if !ok {
			continue // outside this module: no source to read
		}
		// AddGoComments keys comments by base joined with the directory
		// walked, so a path relative to this package names the driver's.
		if err := r.AddGoComments(self, filepath.Join(sourceDir, "..", filepath.FromSlash(rel))); err != nil {
			return err
		}
	}
	return nil
}

// structTypes lists t and every struct type inside it, once each.
func structTypes(t reflect.Type, seen map[reflect.Type]bool, f func(reflect.Type)) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || isLeaf(t) || seen[t] {
		return
	}
	seen[t] = true
	f(t)
	for i := range t.NumField() {
		structTypes(t.Field(i).Type, seen, f)
	}
}

// kindEnums applies the enums the kinds' configurations list
// (broker.Enumerator) to their definitions.
func kindEnums(defs map[string]*jsonschema.Schema, ks broker.Kinds, namer func(reflect.Type) string) error {
	var err error
	for _, k := range ks {
		structTypes(configType(k), map[reflect.Type]bool{}, func(t reflect.Type) {
			e, ok := reflect.New(t).Interface().(broker.Enumerator)
			if !ok || err != nil {
				return
			}
			for prop, values := range e.Enums() {
				if serr := setEnum(defs[namer(t)], prop, values); serr != nil {
					err = fmt.Errorf("schema %s: %w", namer(t), serr)
				}
			}
		})
	}
	return err
}

func property(def *jsonschema.Schema, name string) (*jsonschema.Schema, error) {
	if def == nil || def.Properties == nil {
		return nil, fmt.Errorf("no such definition")
	}
	p, ok := def.Properties.Get(name)
	if !ok {
		return nil, fmt.Errorf("no property %q", name)
	}
	return p, nil
}

func setEnum(def *jsonschema.Schema, prop string, values []string) error {
	p, err := property(def, prop)
	if err != nil {
		return err
	}
	if p.Type == "array" && p.Items != nil {
		p = p.Items
	}
	p.Enum = make([]any, len(values))
	for i, v := range values {
		p.Enum[i] = v
	}
	return nil
}

// setDefaults records every non-zero field of v (a pointer to the struct
// behind def, defaults applied) as that property's default, written as in
// a scenario file.
func setDefaults(def *jsonschema.Schema, v any) error {
	rv := reflect.ValueOf(v).Elem()
	for _, f := range fieldsOf(rv.Type()) {
		fv := rv.FieldByIndex(f.index)
		for fv.Kind() == reflect.Pointer && !fv.IsNil() {
			fv = fv.Elem()
		}
		if fv.IsZero() || fv.Kind() == reflect.Struct && !isLeaf(fv.Type()) {
			continue
		}
		p, err := property(def, f.name)
		if err != nil {
			return err
		}
		p.Default = yamlValue(fv)
	}
	return nil
}

func yamlValue(v reflect.Value) any {
	if tm, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		if err == nil {
			return string(b)
		}
	}
	switch v.Kind() {
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = yamlValue(v.Index(i))
		}
		return out
	case reflect.String:
		return v.String()
	}
	return v.Interface()
}

// secretNote is added to the description of every field tagged secret.
const secretNote = " Secret: shown as `***` in the run directory, results, reports and logs."

// markSecrets notes, on every property whose Go field is tagged secret,
// that mqcheck masks it.
func markSecrets(defs map[string]*jsonschema.Schema, ks broker.Kinds, namer func(reflect.Type) string) {
	seen := map[reflect.Type]bool{}
	visit := func(t reflect.Type) {
		name := namer(t)
		if name == "" {
			name = t.Name()
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Tag.Get("secret") == "" {
				continue
			}
			prop, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			// A doc comment that already says so needs no note.
			if p, err := property(defs[name], prop); err == nil && !strings.Contains(p.Description, "***") {
				p.Description = strings.TrimSpace(p.Description + secretNote)
			}
		}
	}
	structTypes(scenarioType, seen, visit)
	for _, k := range ks {
		structTypes(configType(k), seen, visit)
	}
}

// yamlNames rewrites Go field names in doc comments to the names a scenario
// file uses ("DrainTimeout bounds" becomes "drain_timeout bounds").
func yamlNames(comments map[string]string, ks broker.Kinds) {
	names := map[string]string{}
	seen := map[reflect.Type]bool{}
	collect := func(t reflect.Type) {
		for _, f := range fieldsOf(t) {
			names[t.FieldByIndex(f.index).Name] = f.name
		}
	}
	structTypes(scenarioType, seen, collect)
	for _, k := range ks {
		structTypes(configType(k), seen, collect)
	}
	goNames := make([]string, 0, len(names))
	for n := range names {
		goNames = append(goNames, regexp.QuoteMeta(n))
	}
	// Longest first, so that a name is never replaced by a prefix of it.
	sort.Slice(goNames, func(i, j int) bool { return len(goNames[i]) > len(goNames[j]) })
	re := regexp.MustCompile(`\b(` + strings.Join(goNames, "|") + `)\b('s)?`)
	for k, c := range comments {
		// Doc comments wrap at 80 columns; a description is one paragraph.
		c = strings.Join(strings.Fields(c), " ")
		comments[k] = replaceMatches(re, c, func(n string, at int) string {
			// The subject of a doc comment is the field; elsewhere only a
			// CamelCase name is surely one ("Idempotent producers" and
			// "Kafka's default" are English).
			if at == 0 && !strings.HasSuffix(n, "'s") || camel.MatchString(n) {
				return names[strings.TrimSuffix(n, "'s")] + n[len(strings.TrimSuffix(n, "'s")):]
			}
			return n
		})
	}
}

// camel matches a Go name with an inner capital followed by lower case.
var camel = regexp.MustCompile(`^[A-Z][a-z0-9]+[A-Z][a-z]`)

// replaceMatches is ReplaceAllStringFunc with the position of each match.
func replaceMatches(re *regexp.Regexp, s string, f func(match string, at int) string) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		b.WriteString(f(s[m[0]:m[1]], m[0]))
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
