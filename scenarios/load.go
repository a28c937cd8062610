package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Load reads the scenario file arg or, when no file of that name exists and
// arg is a built-in's name, that built-in, then parses it as Parse does.
func Load(arg string) (*Scenario, error) { return Loader{}.Load(arg) }

// Load is the package's Load for l's kinds.
func (l Loader) Load(arg string) (*Scenario, error) {
	data, source, err := read(arg)
	if err != nil {
		return nil, err
	}
	return l.Parse(data, source)
}

// Parse decodes one scenario document strictly, applies defaults and
// validates, so that what it returns can run. Source names the file in
// errors and gives the default name. Every problem is reported at once,
// each with its field and line: the error is an Errors value.
func Parse(data []byte, source string) (*Scenario, error) { return Loader{}.Parse(data, source) }

// Parse is the package's Parse for l's kinds.
func (l Loader) Parse(data []byte, source string) (*Scenario, error) {
	s, doc, err := l.decode(data, source)
	if err != nil {
		return nil, err
	}
	doc.finish(s)
	if err := doc.validate(s, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Resolve is the CLI's path from its arguments to a runnable scenario: it
// reads arg as Load does, applies each "path=value" override in order, fills
// defaults and validates. Unlike Load followed by Set and Validate, it
// validates only once the overrides are in, so they can complete a file
// (--set broker.kind=memory), applies them before the defaults (--set
// broker.url=... then picks target url), and points every problem at the
// file line or the --set it came from.
func Resolve(arg string, sets []string) (*Scenario, error) { return Loader{}.Resolve(arg, sets) }

// Resolve is the package's Resolve for l's kinds.
func (l Loader) Resolve(arg string, sets []string) (*Scenario, error) {
	data, source, err := read(arg)
	if err != nil {
		return nil, err
	}
	s, validated, err := l.resolve(data, source, sets)
	if err != nil && validated && len(sets) > 0 {
		return nil, l.blameSets(asErrors(err), data, source, sets)
	}
	return s, err
}

// resolve is Resolve on the text of a scenario; validated reports that err
// came from validation, the overrides applied.
func (l Loader) resolve(data []byte, source string, sets []string) (s *Scenario, validated bool, err error) {
	s, doc, err := l.decode(data, source)
	if err != nil {
		return nil, false, err
	}
	var errs Errors
	// setBy maps each overridden path to its --set, to point problems at it.
	setBy := map[string]string{}
	for _, kv := range sets {
		source := setSource + " " + kv
		path, value, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, &Error{Source: source, Msg: "expected path=value (e.g. producers.rate=5k/s)"})
			continue
		}
		path = strings.TrimSpace(path)
		given, err := l.set(s, path, value)
		if err != nil {
			for _, e := range asErrors(err) {
				e.Source = source
				errs = append(errs, e)
			}
			continue
		}
		setBy[path] = source
		for _, p := range given {
			doc.given[p] = true
		}
	}
	if len(errs) > 0 {
		return nil, false, errs
	}
	doc.finish(s)
	if err := doc.validate(s, setBy); err != nil {
		return nil, true, err
	}
	return s, true, nil
}

// blameSets points each problem that the file alone does not have at the
// --set that brings it (the first that does on its own, else all of them),
// even when the field at fault is written in the file: an override of the
// consumers that a queue cannot serve is the override's problem. The file
// line of the field stays in the message.
func (l Loader) blameSets(es Errors, data []byte, source string, sets []string) Errors {
	key := func(e *Error) string { return e.Field + "\x00" + e.Msg }
	problems := func(sets []string) map[string]bool {
		out := map[string]bool{}
		if _, validated, err := l.resolve(data, source, sets); validated && err != nil {
			for _, e := range asErrors(err) {
				out[key(e)] = true
			}
		}
		return out
	}
	alone := problems(nil)
	single := make([]map[string]bool, len(sets))
	for _, e := range es {
		if e.Source != source || alone[key(e)] {
			continue
		}
		blame := setSource + " " + strings.Join(sets, " "+setSource+" ")
		for i, kv := range sets {
			if single[i] == nil {
				single[i] = problems(sets[i : i+1])
			}
			if single[i][key(e)] {
				blame = setSource + " " + kv
				break
			}
		}
		if e.Line > 0 {
			e.Msg += fmt.Sprintf(" (see %s:%d)", e.Source, e.Line)
		}
		e.Source, e.Line, e.Column = blame, 0, 0
	}
	es.sortByLine()
	return es
}

// Marshal renders a scenario as YAML, as written to a run directory's
// scenario.yaml. For a scenario that Parse produced, Parse(Marshal(s))
// gives s back.
func Marshal(s *Scenario) ([]byte, error) { return Loader{}.Marshal(s) }

// Marshal is the package's Marshal for l's kinds: the section of a kind
// not in the list is left out.
func (l Loader) Marshal(s *Scenario) ([]byte, error) {
	if s == nil {
		return nil, errors.New("marshal scenario: nil scenario")
	}
	out, err := yaml.MarshalWithOptions(l.docTypes().toDoc(s).Interface(), yaml.IndentSequence(true))
	if err != nil {
		return nil, fmt.Errorf("marshal scenario %q: %w", s.Name, err)
	}
	return out, nil
}

// document is what decoding learnt about the text beyond the values: which
// fields were written, and where.
type document struct {
	loader Loader
	source string
	given  map[string]bool
	lines  map[string]position
}

// finish fills defaults: fields the text (or a --set) gave keep their value.
func (d *document) finish(s *Scenario) {
	d.loader.applyDefaults(s, func(p string) bool { return d.given[p] })
	if s.Name == "" {
		s.Name = nameFromSource(d.source)
	}
}

// validate runs Validate and points each problem at its origin.
func (d *document) validate(s *Scenario, setBy map[string]string) error {
	err := d.loader.Validate(s)
	if err == nil {
		return nil
	}
	es := asErrors(err)
	for _, e := range es {
		d.locate(e, setBy)
	}
	es.sortByLine()
	return es
}

// locate points a validation problem at where its value was written: the
// --set that changed it or an enclosing field, else the nearest enclosing
// field in the file (a missing broker.kind points at broker:).
func (d *document) locate(e *Error, setBy map[string]string) {
	if e.Source != "" {
		return
	}
	for p := e.Field; p != ""; p = parentPath(p) {
		if src, ok := setBy[p]; ok {
			e.Source = src
			return
		}
		if pos, ok := d.lines[p]; ok {
			e.Source, e.Line, e.Column = d.source, pos.line, pos.col
			return
		}
	}
	e.Source = d.source
}

func parentPath(p string) string {
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// BuiltinPrefix names a built-in scenario whatever the working directory
// holds: "builtin:quickstart" is the built-in even beside a file called
// quickstart.
const BuiltinPrefix = "builtin:"

// Shadowed says, for an argument of Load or Resolve, which of a file (or
// directory) and a built-in of the same name is used, when both exist:
// "" when there is no such clash.
func Shadowed(arg string) string {
	if strings.HasPrefix(arg, BuiltinPrefix) || builtin(arg) == nil {
		return ""
	}
	fi, err := os.Stat(arg)
	switch {
	case err != nil:
		return ""
	case fi.IsDir():
		return fmt.Sprintf("%s is a directory here; using the built-in scenario %s (a scenario file in it is %s)",
			arg, arg, filepath.Join(arg, "NAME.yaml"))
	}
	return fmt.Sprintf("using the file %s, not the built-in scenario of that name (%s%s runs the built-in)",
		arg, BuiltinPrefix, arg)
}

// builtin finds a built-in by name; nil when there is none.
func builtin(name string) *Builtin {
	for _, b := range Builtins() {
		if b.Name == name {
			return &b
		}
	}
	return nil
}

// read returns the text of a scenario file or built-in, and its name for
// errors. A file comes first; a directory is never a scenario, so a
// built-in of its name is used (Shadowed says so).
func read(arg string) ([]byte, string, error) {
	if name, ok := strings.CutPrefix(arg, BuiltinPrefix); ok {
		return readBuiltin(arg, name, nil)
	}
	data, err := os.ReadFile(arg)
	if err == nil {
		return data, arg, nil
	}
	if fi, serr := os.Stat(arg); serr == nil && fi.IsDir() && builtin(arg) != nil {
		return readBuiltin(arg, arg, nil)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		var pe *fs.PathError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, "", &Error{Source: arg, Msg: "cannot read scenario: " + msg, Err: err}
	}
	return readBuiltin(arg, arg, err)
}

// readBuiltin returns the built-in name, or an error for arg that lists the
// built-ins (cause: why no file was read, if one was tried).
func readBuiltin(arg, name string, cause error) ([]byte, string, error) {
	if b := builtin(name); b != nil {
		return b.YAML, builtinSource(b.Name), nil
	}
	builtins := Builtins()
	names := make([]string, len(builtins))
	for i, b := range builtins {
		names[i] = b.Name
	}
	msg := "no built-in scenario of that name"
	if cause != nil {
		msg = "no such file, and no built-in scenario of that name"
	}
	if best, ok := closest(name, names); ok {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	msg += " (built-ins: " + strings.Join(names, ", ") + ")"
	if cause == nil {
		cause = fs.ErrNotExist
	}
	return nil, "", &Error{Source: arg, Msg: msg, Err: cause}
}

func builtinSource(name string) string { return "builtin/" + name + ".yaml" }

// decode parses and checks the text and decodes it, without defaults.
func (l Loader) decode(data []byte, source string) (*Scenario, *document, error) {
	if err := checkUTF8(data, source); err != nil {
		return nil, nil, err
	}
	dt := l.docTypes()
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, nil, yamlError(source, err, nil)
	}
	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && !isNil(d.Body) {
			docs = append(docs, d)
		}
	}
	if len(docs) > 1 {
		p := posOf(docs[1].Body)
		return nil, nil, &Error{Source: source, Line: p.line, Column: p.col,
			Msg: "a second YAML document (after ---): a scenario file holds one scenario"}
	}
	c := newChecker(source)
	var body ast.Node
	if len(docs) == 1 {
		body = docs[0].Body
		c.check(body, dt.scenario, "")
	}
	if len(c.errs) > 0 {
		c.errs.sortByLine()
		return nil, nil, c.errs
	}
	doc := reflect.New(dt.scenario)
	if body != nil {
		if err := yaml.NodeToValue(body, doc.Interface(), yaml.Strict()); err != nil {
			return nil, nil, yamlError(source, err, c.lines)
		}
	}
	return dt.fromDoc(doc), &document{loader: l, source: source, given: c.given, lines: c.lines}, nil
}

// checkUTF8 refuses text that is not UTF-8 (a Latin-1 file), with the line
// and column of the first bad byte: YAML is UTF-8, and the parser would
// silently turn the byte into U+FFFD in names, destinations and the run's
// scenario.yaml.
func checkUTF8(data []byte, source string) error {
	if utf8.Valid(data) {
		return nil
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return &Error{Source: source, Line: line, Column: col,
				Msg: fmt.Sprintf("byte 0x%02x is not UTF-8 (a Latin-1 file?): save the scenario as UTF-8", data[i])}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return nil
}

// yamlError turns an error of goccy/go-yaml into an *Error with its line and,
// when lines is known, the field written on that line.
func yamlError(source string, err error, lines map[string]position) *Error {
	e := &Error{Source: source, Msg: err.Error(), Err: err}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
	}
	if e.Line > 0 {
		// The deepest field written on that line is the one at fault.
		for p, pos := range lines {
			if pos.line == e.Line && (len(p) > len(e.Field) || len(p) == len(e.Field) && p < e.Field) {
				e.Field = p
			}
		}
	}
	return e
}

// asErrors flattens an error from this package into its problems.
func asErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return Errors{{Msg: err.Error(), Err: err}}
}
