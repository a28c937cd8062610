package scenarios

// Kafka configures the franz-go driver (broker/kafka) and its embedded kfake
// cluster.
type Kafka struct {
	// Brokers in the embedded cluster. Default 3.
	Brokers int `yaml:"brokers,omitempty" json:"brokers,omitempty"`
	// Partitions of the topic. Default 6.
	Partitions int `yaml:"partitions,omitempty" json:"partitions,omitempty"`
}
