// Package mqtt drives MQTT 5 brokers through paho.golang, QoS 0, 1 and 2 with persistent
// sessions: mochi-mqtt in process, a private mosquitto, a private RabbitMQ node with its
// MQTT plugin, or your broker by URL.
package mqtt

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/mqcheck/mqcheck/broker"
)

// Open obtains an MQTT target for cfg and spec, and a driver for it. A nil
// cfg is an empty configuration (every default).
//
//   - embedded (the default): mochi-mqtt in the mqcheck process on a free
//     127.0.0.1 port, sessions in a bolt file under the run directory.
//   - exec: a private mosquitto from the installed package, with its own
//     configuration and persistence file under the run directory.
//   - url: the broker at broker.url (mqtt://host:port, mqtts:// for TLS;
//     user info is the username and password).
//   - rabbitmq: a private RabbitMQ node from the installed server with its
//     MQTT plugin (MQTT 3.1.1 only), its data under the run directory.
func Open(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	return broker.OpenTarget(ctx, "mqtt", c, spec, env,
		broker.TargetOpener[*Config]{Target: broker.TargetEmbedded, Open: openEmbedded},
		broker.TargetOpener[*Config]{Target: broker.TargetExec, Open: openMosquitto},
		broker.TargetOpener[*Config]{Target: broker.TargetURL, Open: openURL},
		broker.TargetOpener[*Config]{Target: broker.TargetContainer, Open: openContainer},
		broker.TargetOpener[*Config]{Target: TargetRabbitMQ, Open: openRabbitMQ})
}

func openURL(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if spec.URL == "" {
		return nil, fmt.Errorf("opening mqtt target: %w: broker.url is required with target url", broker.ErrConfig)
	}
	u, err := url.Parse(spec.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("opening mqtt target: %w: broker.url must be mqtt://host:port or mqtts://host:port", broker.ErrConfig)
	}
	ep := endpoint{username: c.Username, password: c.Password}
	port := "1883"
	switch u.Scheme {
	case "mqtt", "tcp":
	case "mqtts", "ssl", "tls":
		port = "8883"
		var t broker.TLSFiles
		if c.TLS != nil {
			t = broker.TLSFiles{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, InsecureSkipVerify: c.TLS.InsecureSkipVerify}
		}
		if ep.tls, err = broker.TLSConfig("broker.mqtt.tls", t); err != nil {
			return nil, fmt.Errorf("opening mqtt target: %w: %w", broker.ErrConfig, err)
		}
	default:
		return nil, fmt.Errorf("opening mqtt target: %w: broker.url scheme %q: use mqtt:// or mqtts://", broker.ErrConfig, u.Scheme)
	}
	if u.User != nil {
		ep.username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			ep.password = p
		}
	}
	ep.addr = u.Host
	if u.Port() == "" {
		ep.addr = net.JoinHostPort(u.Hostname(), port)
	}
	d := newDriver(c, spec, ep, env)
	// Reach it once, so that an unreachable broker is an
	// infrastructure error before the run starts.
	cn, err := d.dial(ctx, connectOptions{clientID: d.prefix + "-probe", cleanStart: true})
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			err = fmt.Errorf("%w (broker.mqtt.tls.ca_file must name the CA that signed the broker's certificate)", err)
		}
		return nil, fmt.Errorf("opening mqtt target %s://%s: %w", u.Scheme, ep.addr, err)
	}
	cn.disconnect()
	return &broker.Target{Driver: d, Endpoints: []string{ep.addr}, Description: "MQTT broker at " + u.Scheme + "://" + ep.addr,
		Close: func(context.Context) error { return nil }}, nil
}
