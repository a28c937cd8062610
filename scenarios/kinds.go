package scenarios

import (
	"reflect"
	"strconv"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kinds"
)

// Loader reads, fills, checks and describes scenarios for one list of
// broker kinds: broker.kind names one of them, and broker.<kind> decodes
// into that kind's Config. The zero Loader uses kinds.Default(); the
// package's functions and Scenario's methods are the zero Loader's.
type Loader struct {
	// Kinds the scenarios may use; nil means kinds.Default().
	Kinds broker.Kinds
}

// KindList is the list of kinds l loads scenarios for.
func (l Loader) KindList() broker.Kinds { return l.kinds() }

func (l Loader) kinds() broker.Kinds {
	if l.Kinds == nil {
		return kinds.Default()
	}
	return l.Kinds
}

// The YAML side of a scenario: a Scenario whose broker section has one
// field per kind, built for a list of kinds with reflect.StructOf so that
// the decoder, the checker and --set work on it exactly as on any Go type
// (its fields named and typed by the kinds' configs).
type docTypes struct {
	kinds    broker.Kinds
	scenario reflect.Type // Scenario with Broker replaced by broker
	broker   reflect.Type // Broker's own fields, then one *Config per kind
	// brokerField is the index of Broker in Scenario; nStatic the number
	// of Broker's own fields in broker.
	brokerField, nStatic int
}

var brokerType = reflect.TypeFor[Broker]()

func (l Loader) docTypes() docTypes {
	ks := l.kinds()
	d := docTypes{kinds: ks}
	var bf []reflect.StructField
	for i := range brokerType.NumField() {
		f := brokerType.Field(i)
		if !f.IsExported() || f.Tag.Get("yaml") == "-" {
			continue
		}
		bf = append(bf, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
	}
	d.nStatic = len(bf)
	for i, k := range ks {
		tag := `yaml:"` + k.Name + `,omitempty" json:"` + k.Name + `,omitempty"`
		bf = append(bf, reflect.StructField{Name: "Section" + strconv.Itoa(i), Type: configType(k), Tag: reflect.StructTag(tag)})
	}
	d.broker = reflect.StructOf(bf)
	st := reflect.TypeFor[Scenario]()
	sf := make([]reflect.StructField, st.NumField())
	for i := range sf {
		f := st.Field(i)
		sf[i] = reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag}
		if f.Type == brokerType {
			sf[i].Type, d.brokerField = d.broker, i
		}
	}
	d.scenario = reflect.StructOf(sf)
	return d
}

// configType is the Go type of a kind's section (a pointer to a struct).
func configType(k broker.Kind) reflect.Type { return reflect.TypeOf(k.NewConfig()) }

// kindOfConfig names the kind whose Config type cfg has, if any.
func kindOfConfig(ks broker.Kinds, cfg broker.Config) (string, bool) {
	t := reflect.TypeOf(cfg)
	for _, k := range ks {
		if configType(k) == t {
			return k.Name, true
		}
	}
	return "", false
}

// toDoc returns a pointer to s in the document's shape. The sections are
// shared with s, not copied.
func (d docTypes) toDoc(s *Scenario) reflect.Value {
	out := reflect.New(d.scenario)
	sv, ov := reflect.ValueOf(s).Elem(), out.Elem()
	for i := range ov.NumField() {
		if i != d.brokerField {
			ov.Field(i).Set(sv.Field(i))
		}
	}
	b, bv := &s.Broker, ov.Field(d.brokerField)
	static := reflect.ValueOf(b).Elem()
	for i := range d.nStatic {
		bv.Field(i).Set(static.FieldByName(d.broker.Field(i).Name))
	}
	sections := make(map[string]broker.Config, len(b.others)+1)
	for name, c := range b.others {
		sections[name] = c
	}
	if b.Config != nil {
		name := b.Kind
		if k, ok := d.kinds.Lookup(name); !ok || configType(k) != reflect.TypeOf(b.Config) {
			// Kind was changed since: the section stays with its own kind.
			name, _ = kindOfConfig(d.kinds, b.Config)
		}
		sections[name] = b.Config
	}
	for i, k := range d.kinds {
		c, ok := sections[k.Name]
		if ok && c != nil && reflect.TypeOf(c) == configType(k) {
			bv.Field(d.nStatic + i).Set(reflect.ValueOf(c))
		}
	}
	return out
}

// fromDoc turns a document value back into a Scenario: the section of the
// kind named becomes Config, the others are kept for Validate.
func (d docTypes) fromDoc(doc reflect.Value) *Scenario {
	s := &Scenario{}
	sv, dv := reflect.ValueOf(s).Elem(), doc.Elem()
	for i := range dv.NumField() {
		if i != d.brokerField {
			sv.Field(i).Set(dv.Field(i))
		}
	}
	b, bv := &s.Broker, dv.Field(d.brokerField)
	static := reflect.ValueOf(b).Elem()
	for i := range d.nStatic {
		static.FieldByName(d.broker.Field(i).Name).Set(bv.Field(i))
	}
	for i, k := range d.kinds {
		f := bv.Field(d.nStatic + i)
		if f.IsNil() {
			continue
		}
		c := f.Interface().(broker.Config)
		if k.Name == b.Kind {
			b.Config = c
			continue
		}
		if b.others == nil {
			b.others = map[string]broker.Config{}
		}
		b.others[k.Name] = c
	}
	return s
}

// isEmpty reports a section with every field at its zero value.
func isEmpty(c broker.Config) bool {
	v := reflect.ValueOf(c)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return true
		}
		v = v.Elem()
	}
	return v.IsZero()
}
