package mqtt

import "github.com/mqcheck/mqcheck/broker"

// CountRabbitMQBacklog gives a url target's driver, reaching a RabbitMQ
// node's MQTT plugin, the rabbitmq target's backlog over the node's AMQP
// URL: the conformance suite's checks share one node reached by URL.
func CountRabbitMQBacklog(tgt *broker.Target, amqpURL string) {
	d := tgt.Driver.(*driver)
	d.amqpURL = amqpURL
	d.rabbit = newRabbitBacklog(d)
	d.backlog = d.rabbit.count
}
