// Package kinds is the one list of broker kinds this build of mqcheck drives: the
// scenario loader, its validation and schema, and the CLI learn from it what exists.
package kinds

import (
	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kafka"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/broker/mqtt"
	"github.com/mqcheck/mqcheck/broker/nats"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/broker/redis"
	"github.com/mqcheck/mqcheck/broker/sqs"
)

// Default returns the broker kinds of this build, in the order users see
// them. It is a value, written out here rather than registered from init
// functions, so that what exists is visible in one place and a test can run
// with a list of its own (Kinds.With).
func Default() broker.Kinds {
	return broker.Kinds{
		{
			Name:        "memory",
			Title:       "Memory",
			Description: "in-process reference broker with exact, seeded fault knobs, for mqcheck's own tests",
			Targets:     []string{broker.TargetEmbedded},
			TargetHelp:  "the memory broker lives inside the mqcheck process",
			NewConfig:   func() broker.Config { return &memory.Config{} },
			Open:        broker.Typed(memory.Open),
			Abilities:   broker.TypedAbilities(memory.Abilities),
			Footprint:   broker.TypedFootprint(memory.Footprint),
		},
		{
			Name:        "kafka",
			Title:       "Kafka",
			Description: "Kafka through franz-go: an embedded kfake cluster, or your cluster by URL",
			Targets:     []string{broker.TargetEmbedded, broker.TargetURL, broker.TargetContainer},
			NewConfig:   func() broker.Config { return &kafka.Config{} },
			Open:        broker.Typed(kafka.Open),
			Abilities:   broker.TypedAbilities(kafka.Abilities),
			Footprint:   broker.TypedFootprint(kafka.Footprint),
			Relay:       true,
			// Closed loop, the window sets the pace: franz-go's buffer.
			ClosedLoopWindow: kafka.ClosedLoopWindow,
		},
		{
			Name:        "rabbitmq",
			Title:       "RabbitMQ",
			Description: "RabbitMQ through amqp091-go: a private node started from the installed server, or your broker by URL",
			Targets:     []string{broker.TargetExec, broker.TargetURL, broker.TargetContainer},
			TargetHelp:  "RabbitMQ is an Erlang server; exec starts a private node",
			NewConfig:   func() broker.Config { return &rabbitmq.Config{} },
			Open:        broker.Typed(rabbitmq.Open),
			Abilities:   broker.TypedAbilities(rabbitmq.Abilities),
			Footprint:   broker.TypedFootprint(rabbitmq.Footprint),
		},
		{
			Name:        "sqs",
			Title:       "SQS",
			Description: "Amazon SQS through aws-sdk-go-v2, standard and FIFO queues: goaws in process, a private fauxqs, an emulator in a container, or your endpoint by URL",
			Targets:     []string{broker.TargetEmbedded, broker.TargetExec, broker.TargetURL, broker.TargetContainer},
			NewConfig:   func() broker.Config { return &sqs.Config{} },
			Open:        broker.Typed(sqs.Open),
			Abilities:   broker.TypedAbilities(sqs.Abilities),
			Footprint:   broker.TypedFootprint(sqs.Footprint),
			TextBodies:  true,
		},
		{
			Name:        "nats",
			Title:       "NATS",
			Description: "NATS through nats.go, JetStream streams or core subjects: nats-server in process (one node or a cluster of three), a private server, or your server by URL",
			Targets:     []string{broker.TargetEmbedded, broker.TargetExec, broker.TargetURL, broker.TargetContainer},
			NewConfig:   func() broker.Config { return &nats.Config{} },
			Open:        broker.Typed(nats.Open),
			Abilities:   broker.TypedAbilities(nats.Abilities),
			Footprint:   broker.TypedFootprint(nats.Footprint),
		},
		{
			Name:        "mqtt",
			Title:       "MQTT",
			Description: "MQTT 5 through paho.golang, QoS 0, 1 and 2 with persistent sessions: mochi-mqtt in process, a private mosquitto, a private RabbitMQ node's MQTT plugin (3.1.1, consumers over MQTT or AMQP), a container, or your broker by URL",
			Targets:     []string{broker.TargetEmbedded, broker.TargetExec, broker.TargetURL, broker.TargetContainer, mqtt.TargetRabbitMQ},
			NewConfig:   func() broker.Config { return &mqtt.Config{} },
			Open:        broker.Typed(mqtt.Open),
			Abilities:   broker.TypedAbilities(mqtt.Abilities),
			Footprint:   broker.TypedFootprint(mqtt.Footprint),
		},
		{
			Name:        "redis",
			Title:       "Redis",
			Description: "Redis Streams through go-redis, consumer groups with XAUTOCLAIM: a private redis-server, miniredis in process, or your server by URL",
			Targets:     []string{broker.TargetExec, broker.TargetEmbedded, broker.TargetURL, broker.TargetContainer},
			NewConfig:   func() broker.Config { return &redis.Config{} },
			Open:        broker.Typed(redis.Open),
			Abilities:   broker.TypedAbilities(redis.Abilities),
			Footprint:   broker.TypedFootprint(redis.Footprint),
		},
	}
}
