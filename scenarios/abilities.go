package scenarios

import (
	"slices"
	"strconv"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/plural"
)

// validateFaultTargets checks each fault against what mqcheck can do to
// the target (the kind's Abilities), so that validate refuses what run
// would only refuse once the broker is up: a restart of a broker mqcheck
// did not start, a node the cluster does not have, a network fault on a
// broker inside mqcheck.
func (s *Scenario) validateFaultTargets(p *problems, k broker.Kind) {
	target := s.Broker.Target
	if target == "" {
		target = k.Targets[0]
	}
	if k.Abilities == nil || !slices.Contains(k.Targets, target) {
		return
	}
	ab := k.Abilities(s.Broker.Config, target)
	where := k.Name + " (" + target + ")"
	for i, f := range s.Faults {
		path := "faults." + strconv.Itoa(i)
		cannot := func(what string) {
			if ab.Instead != "" {
				p.add(path+".kind", "%s cannot %s; %s", where, what, ab.Instead)
			} else {
				p.add(path+".kind", "%s cannot %s", where, what)
			}
		}
		command := len(f.RestartCommand) > 0 || len(f.PauseCommand) > 0
		if command && !ab.Network {
			field := "restart_command"
			if len(f.PauseCommand) > 0 {
				field = "pause_command"
			}
			if ab.Instead != "" {
				p.add(path+"."+field, "a command cannot act on a broker inside mqcheck; %s", ab.Instead)
			} else {
				p.add(path+"."+field, "a command cannot act on a broker inside mqcheck")
			}
			continue
		}
		switch f.Kind {
		case FaultRestart, FaultRollingRestart:
			switch {
			case f.Kind == FaultRestart && command:
			case !ab.Network:
				cannot("be restarted")
			case ab.Nodes == 0 && f.Kind == FaultRestart:
				p.add(path+".kind", "restart needs a broker mqcheck started itself; it cannot restart %s: give restart_command "+
					"(and heal_command) to restart it yourself, e.g. restart_command: [docker, restart, broker-1]", where)
			case ab.Nodes == 0:
				p.add(path+".kind", "rolling-restart needs a cluster mqcheck started itself; it cannot restart %s", where)
			case f.Kind == FaultRollingRestart && ab.Nodes < 2:
				p.add(path+".kind", "rolling-restart needs a cluster of 2 nodes or more; %s has %d (use restart)", where, ab.Nodes)
			default:
				checkNode(p, path, f.Node, ab.Nodes, where)
			}
		case FaultPause:
			switch {
			case command:
			case !ab.Network:
				cannot("be paused")
			case !ab.Pause:
				p.add(path+".kind", "pause needs a broker mqcheck started and can freeze; it cannot pause %s: give pause_command "+
					"and heal_command to freeze it yourself, e.g. pause_command: [docker, pause, broker-1]", where)
			default:
				checkNode(p, path, f.Node, ab.Nodes, where)
			}
		case FaultTxnAnswerLoss:
			if !ab.DropTxnAnswers {
				if !ab.Network {
					cannot("lose the answers to the ends of transactions")
				} else {
					p.add(path+".kind", "txn-answer-loss needs a broker that runs inside mqcheck and ends transactions (kafka, embedded); %s is not one", where)
				}
			}
		case FaultLeaderMove:
			if !ab.MoveLeaders {
				if !ab.Network {
					cannot("move partition leaders")
				} else {
					p.add(path+".kind", "leader-move needs a cluster mqcheck can move partition leaders on (kafka, embedded); %s is not one", where)
				}
			}
		default:
			if slices.Contains(NetworkFaultKinds(), f.Kind) && !ab.Network {
				cannot("take network faults (" + f.Kind + "), which act on TCP connections")
			}
		}
	}
}

// checkNode rejects a node index the target does not have.
func checkNode(p *problems, path string, node, nodes int, where string) {
	if node >= nodes {
		p.add(path+".node", "%d, but %s has %s (0 to %d, or -1 for all)", node, where, plural.Of(nodes, "node"), nodes-1)
	}
}
