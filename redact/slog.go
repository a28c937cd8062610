package redact

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Handler wraps h so that the message and every attribute of each record is
// scrubbed before h formats it. Drivers log what their client libraries say
// (errors quoting the URL they dialled), so masking happens here, once,
// rather than at every call site.
func Handler(h slog.Handler, sc *Scrubber) slog.Handler {
	if rh, ok := h.(*handler); ok {
		h = rh.next
	}
	return &handler{next: h, sc: sc}
}

type handler struct {
	next slog.Handler
	sc   *Scrubber
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.sc.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	scrubbed := make([]slog.Attr, len(as))
	for i, a := range as {
		scrubbed[i] = h.attr(a)
	}
	return &handler{next: h.next.WithAttrs(scrubbed), sc: h.sc}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), sc: h.sc}
}

// attr scrubs one attribute. Values that format themselves (errors,
// Stringers, anything else) are formatted here, as the handler would, so
// that the secret never reaches the handler.
func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.sc.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = h.attr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			return a
		case error:
			return slog.String(a.Key, h.sc.String(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, h.sc.String(x.String()))
		default:
			// Keep the value's own shape (a list stays a JSON list) unless
			// its text holds a secret. The JSON handler marshals what
			// the text handler prints with %+v (and follows pointers
			// that %+v does not), so both forms are checked.
			s := fmt.Sprintf("%+v", x)
			j, _ := json.Marshal(x)
			if m := h.sc.String(s); m != s || h.sc.String(string(j)) != string(j) {
				return slog.String(a.Key, h.sc.String(string(j)))
			}
			return a
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
