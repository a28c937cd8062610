package rabbitmq

import amqp "github.com/rabbitmq/amqp091-go"

// deathReason is why the broker dead-lettered a message: the reason of the
// x-death header's first entry, the latest death ("rejected", "expired",
// "maxlen", "delivery_limit"), else x-first-death-reason, else "unknown".
func deathReason(h amqp.Table) string {
	if deaths, ok := h["x-death"].([]any); ok && len(deaths) > 0 {
		if t, ok := deaths[0].(amqp.Table); ok {
			if r, ok := t["reason"].(string); ok && r != "" {
				return r
			}
		}
	}
	if r, ok := h["x-first-death-reason"].(string); ok && r != "" {
		return r
	}
	return "unknown"
}
