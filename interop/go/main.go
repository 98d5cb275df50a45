// A stock go-libp2p peer for Membrane's interop tests.
//
// Flags: --listen <multiaddr>, --dial <multiaddr>, --topic <name>,
// --relay <relay multiaddr> (reserve a slot on it); each may repeat.
// Commands arrive as one JSON object per line on stdin:
// {"cmd":"dial","addr":..}, {"cmd":"publish","topic":..,"data":..},
// {"cmd":"subscribe","topic":..}, {"cmd":"ping","peer":..}, {"cmd":"exit"}.
// Events go to stdout as one JSON object per line. The peer runs until stdin
// closes, exit arrives or the process is signalled.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

const agent = "membrane-interop/go-libp2p-v0.51.0"

// every network operation started from a command gives up after this long
const commandTimeout = 20 * time.Second

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(fields map[string]any) {
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(fields)
}

func emitError(context string, err error) {
	emit(map[string]any{"event": "error", "context": context, "error": err.Error()})
}

type multiFlag []string

type args struct {
	listen, dial, topics, relays multiFlag
}

func parseArgs() (*args, error) {
	a := &args{}
	argv := os.Args[1:]
	for i := 0; i < len(argv); i += 2 {
		if i+1 >= len(argv) {
			return nil, fmt.Errorf("%s needs a value", argv[i])
		}
		v := argv[i+1]
		switch argv[i] {
		case "--listen":
			a.listen = append(a.listen, v)
		case "--dial":
			a.dial = append(a.dial, v)
		case "--topic":
			a.topics = append(a.topics, v)
		case "--relay":
			a.relays = append(a.relays, v)
		default:
			return nil, fmt.Errorf("unknown flag %s", argv[i])
		}
	}
	return a, nil
}

type peerNode struct {
	ctx    context.Context
	host   host.Host
	ps     *pubsub.PubSub
	mu     sync.Mutex
	topics map[string]*pubsub.Topic
}

func main() {
	a, err := parseArgs()
	if err != nil {
		emitError("args", err)
		os.Exit(2)
	}
	if err := run(a); err != nil {
		emitError("fatal", err)
		os.Exit(1)
	}
}

func run(a *args) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	h, err := libp2p.New(
		libp2p.ListenAddrStrings(a.listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(websocket.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.EnableRelay(),
		libp2p.UserAgent(agent),
	)
	if err != nil {
		return err
	}
	defer h.Close()

	n := &peerNode{ctx: ctx, host: h, topics: map[string]*pubsub.Topic{}}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			direction := "outbound"
			if c.Stat().Direction == network.DirInbound {
				direction = "inbound"
			}
			emit(map[string]any{"event": "connected", "peer": c.RemotePeer().String(), "addr": c.RemoteMultiaddr().String(), "direction": direction})
		},
		DisconnectedF: func(nw network.Network, c network.Conn) {
			if nw.Connectedness(c.RemotePeer()) != network.Connected {
				emit(map[string]any{"event": "disconnected", "peer": c.RemotePeer().String()})
			}
		},
	})
	if err := n.watchIdentify(); err != nil {
		return err
	}

	n.ps, err = pubsub.NewGossipSub(ctx, h)
	if err != nil {
		return err
	}

	emit(map[string]any{"event": "ready", "peer": h.ID().String(), "agent": agent})
	for _, addr := range h.Addrs() {
		emit(map[string]any{"event": "listening", "addr": addr.String()})
	}
	for _, topic := range a.topics {
		if err := n.subscribe(topic); err != nil {
			emitError("subscribe", err)
		}
	}
	for _, addr := range a.dial {
		go n.dial(addr)
	}
	for _, relay := range a.relays {
		go n.reserve(relay)
	}

	// stdin closing ends the peer
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		var cmd map[string]string
		if err := json.Unmarshal([]byte(line), &cmd); err != nil {
			emitError("stdin", err)
			continue
		}
		switch cmd["cmd"] {
		case "dial":
			go n.dial(cmd["addr"])
		case "subscribe":
			if err := n.subscribe(cmd["topic"]); err != nil {
				emitError("subscribe", err)
			}
		case "publish":
			go n.publish(cmd["topic"], cmd["data"])
		case "ping":
			go n.ping(cmd["peer"])
		case "exit":
			return nil
		default:
			emitError("stdin", fmt.Errorf("unknown command %q", cmd["cmd"]))
		}
	}
	return nil
}

func (n *peerNode) watchIdentify() error {
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return err
	}
	go func() {
		for e := range sub.Out() {
			evt := e.(event.EvtPeerIdentificationCompleted)
			protocols := make([]string, 0, len(evt.Protocols))
			for _, p := range evt.Protocols {
				protocols = append(protocols, string(p))
			}
			observed := ""
			if evt.ObservedAddr != nil {
				observed = evt.ObservedAddr.String()
			}
			emit(map[string]any{"event": "identify", "peer": evt.Peer.String(), "agent": evt.AgentVersion, "protocols": protocols, "observedAddr": observed})
		}
	}()
	return nil
}

func (n *peerNode) dial(addr string) {
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		emitError("dial", err)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, commandTimeout)
	defer cancel()
	// a /p2p-circuit address gives a limited connection; the tests dial through relays on purpose
	ctx = network.WithAllowLimitedConn(ctx, "interop")
	if err := n.host.Connect(ctx, *info); err != nil {
		emit(map[string]any{"event": "error", "context": "dial", "peer": info.ID.String(), "error": err.Error()})
	}
}

func (n *peerNode) reserve(addr string) {
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		emitError("reserve", err)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, commandTimeout)
	defer cancel()
	if err := n.host.Connect(ctx, *info); err != nil {
		emitError("reserve", err)
		return
	}
	rsvp, err := client.Reserve(ctx, n.host, *info)
	if err != nil {
		emitError("reserve", err)
		return
	}
	circuit, err := ma.NewMultiaddr(fmt.Sprintf("%s/p2p-circuit/p2p/%s", addr, n.host.ID()))
	if err != nil {
		emitError("reserve", err)
		return
	}
	emit(map[string]any{"event": "reserved", "relay": info.ID.String(), "addr": circuit.String(), "expires": rsvp.Expiration.Unix()})
}

func (n *peerNode) subscribe(name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.topics[name]; ok {
		return nil
	}
	topic, err := n.ps.Join(name)
	if err != nil {
		return err
	}
	sub, err := topic.Subscribe()
	if err != nil {
		return err
	}
	events, err := topic.EventHandler()
	if err != nil {
		return err
	}
	n.topics[name] = topic
	go func() {
		for {
			msg, err := sub.Next(n.ctx)
			if err != nil {
				return
			}
			if msg.ReceivedFrom == n.host.ID() {
				continue
			}
			emit(map[string]any{"event": "message", "topic": name, "data": string(msg.Data), "from": msg.GetFrom().String()})
		}
	}()
	go func() {
		for {
			evt, err := events.NextPeerEvent(n.ctx)
			if err != nil {
				return
			}
			if evt.Type == pubsub.PeerJoin {
				emit(map[string]any{"event": "subscribed", "peer": evt.Peer.String(), "topic": name})
			}
		}
	}()
	return nil
}

func (n *peerNode) publish(name, data string) {
	if err := n.subscribe(name); err != nil {
		emitError("publish", err)
		return
	}
	n.mu.Lock()
	topic := n.topics[name]
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(n.ctx, commandTimeout)
	defer cancel()
	if err := topic.Publish(ctx, []byte(data)); err != nil {
		emitError("publish", err)
		return
	}
	emit(map[string]any{"event": "published", "topic": name})
}

func (n *peerNode) ping(id string) {
	p, err := peer.Decode(id)
	if err != nil {
		emitError("ping", err)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, commandTimeout)
	defer cancel()
	ctx = network.WithAllowLimitedConn(ctx, "interop")
	res := <-ping.Ping(ctx, n.host, p)
	if res.Error != nil {
		emit(map[string]any{"event": "error", "context": "ping", "peer": id, "error": res.Error.Error()})
		return
	}
	emit(map[string]any{"event": "ping", "peer": id, "rtt": float64(res.RTT.Microseconds()) / 1000})
}
