//! A stock rust-libp2p peer for Membrane's interop tests.
//!
//! Flags: `--listen <multiaddr>`, `--dial <multiaddr>`, `--topic <name>`,
//! `--relay <relay multiaddr>` (reserve a slot and listen on `<relay>/p2p-circuit`);
//! each may repeat. Commands arrive as one JSON object per line on stdin:
//! `{"cmd":"dial","addr":..}`, `{"cmd":"publish","topic":..,"data":..}`,
//! `{"cmd":"subscribe","topic":..}`, `{"cmd":"ping","peer":..}`, `{"cmd":"exit"}`.
//! Events go to stdout as one JSON object per line. The peer runs until stdin
//! closes, `exit` arrives or the process is signalled.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    gossipsub, identify, noise, ping, relay,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr, PeerId, SwarmBuilder,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const AGENT: &str = "membrane-interop/rust-libp2p-0.57.1";

#[derive(NetworkBehaviour)]
struct Behaviour {
    relay: relay::client::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour,
}

fn emit(value: Value) {
    println!("{value}");
}

fn error(context: &str, err: impl std::fmt::Display) {
    emit(json!({ "event": "error", "context": context, "error": err.to_string() }));
}

#[derive(Default)]
struct Args {
    listen: Vec<Multiaddr>,
    dial: Vec<Multiaddr>,
    topics: Vec<String>,
    relays: Vec<Multiaddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let addr = || value.parse::<Multiaddr>().map_err(|e| format!("{flag} {value}: {e}"));
        match flag.as_str() {
            "--listen" => args.listen.push(addr()?),
            "--dial" => args.dial.push(addr()?),
            "--relay" => args.relays.push(addr()?),
            "--topic" => args.topics.push(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            error("args", e);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        error("fatal", e);
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_dns()?
        .with_websocket(noise::Config::new, yamux::Config::default)
        .await?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay| {
            let gossipsub_config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_secs(1))
                .validation_mode(gossipsub::ValidationMode::Strict)
                .build()?;
            Ok(Behaviour {
                relay,
                identify: identify::Behaviour::new(
                    identify::Config::new("/ipfs/0.1.0".into(), key.public())
                        .with_agent_version(AGENT.into()),
                ),
                ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(1))),
                gossipsub: gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossipsub_config,
                )?,
            })
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();

    emit(json!({ "event": "ready", "peer": swarm.local_peer_id().to_string(), "agent": AGENT }));

    for addr in args.listen {
        swarm.listen_on(addr)?;
    }
    for topic in &args.topics {
        swarm.behaviour_mut().gossipsub.subscribe(&gossipsub::IdentTopic::new(topic))?;
    }
    for addr in args.dial {
        if let Err(e) = swarm.dial(addr) {
            error("dial", e);
        }
    }
    for relay in args.relays {
        swarm.listen_on(relay.with(libp2p::multiaddr::Protocol::P2pCircuit))?;
    }

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    // peers whose next outbound ping result is reported (the ping behaviour pings every second)
    let mut ping_wanted: HashSet<PeerId> = HashSet::new();

    loop {
        tokio::select! {
            line = stdin.next_line() => {
                match line {
                    Ok(Some(line)) => {
                        if line.trim().is_empty() { continue }
                        match serde_json::from_str::<Value>(&line) {
                            Ok(cmd) => {
                                if !command(&mut swarm, &mut ping_wanted, &cmd) { return Ok(()) }
                            }
                            Err(e) => error("stdin", e),
                        }
                    }
                    Ok(None) => return Ok(()),
                    Err(e) => { error("stdin", e); return Ok(()) }
                }
            }
            event = swarm.select_next_some() => on_event(event, &mut ping_wanted),
        }
    }
}

/// Runs one stdin command; returns false when the peer should exit
fn command(swarm: &mut libp2p::Swarm<Behaviour>, ping_wanted: &mut HashSet<PeerId>, cmd: &Value) -> bool {
    let field = |name: &str| cmd.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    match field("cmd").as_str() {
        "dial" => match field("addr").parse::<Multiaddr>() {
            Ok(addr) => {
                if let Err(e) = swarm.dial(addr) {
                    error("dial", e);
                }
            }
            Err(e) => error("dial", e),
        },
        "subscribe" => {
            if let Err(e) = swarm.behaviour_mut().gossipsub.subscribe(&gossipsub::IdentTopic::new(field("topic"))) {
                error("subscribe", e);
            }
        }
        "publish" => {
            let topic = field("topic");
            match swarm
                .behaviour_mut()
                .gossipsub
                .publish(gossipsub::IdentTopic::new(&topic), field("data").into_bytes())
            {
                Ok(_) => emit(json!({ "event": "published", "topic": topic })),
                Err(e) => error("publish", e),
            }
        }
        "ping" => match field("peer").parse::<PeerId>() {
            Ok(peer) => {
                ping_wanted.insert(peer);
            }
            Err(e) => error("ping", e),
        },
        "exit" => return false,
        other => error("stdin", format!("unknown command {other:?}")),
    }
    true
}

fn on_event(event: SwarmEvent<BehaviourEvent>, ping_wanted: &mut HashSet<PeerId>) {
    match event {
        SwarmEvent::NewListenAddr { address, .. } => {
            emit(json!({ "event": "listening", "addr": address.to_string() }))
        }
        SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => emit(json!({
            "event": "connected",
            "peer": peer_id.to_string(),
            "addr": endpoint.get_remote_address().to_string(),
            "direction": if endpoint.is_dialer() { "outbound" } else { "inbound" },
        })),
        SwarmEvent::ConnectionClosed { peer_id, num_established, .. } => {
            if num_established == 0 {
                emit(json!({ "event": "disconnected", "peer": peer_id.to_string() }))
            }
        }
        SwarmEvent::OutgoingConnectionError { peer_id, error: e, .. } => emit(json!({
            "event": "error",
            "context": "dial",
            "peer": peer_id.map(|p| p.to_string()),
            "error": e.to_string(),
        })),
        SwarmEvent::ListenerError { error: e, .. } => error("listen", e),
        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
            emit(json!({
                "event": "identify",
                "peer": peer_id.to_string(),
                "agent": info.agent_version,
                "protocols": info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "observedAddr": info.observed_addr.to_string(),
            }))
        }
        SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result, .. })) => match result {
            Ok(rtt) => {
                if ping_wanted.remove(&peer) {
                    emit(json!({ "event": "ping", "peer": peer.to_string(), "rtt": rtt.as_secs_f64() * 1000.0 }))
                }
            }
            Err(e) => {
                if ping_wanted.contains(&peer) {
                    error("ping", e)
                }
            }
        },
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => match event {
            gossipsub::Event::Message { message, .. } => emit(json!({
                "event": "message",
                "topic": message.topic.to_string(),
                "data": String::from_utf8_lossy(&message.data),
                "from": message.source.map(|p| p.to_string()),
            })),
            gossipsub::Event::Subscribed { peer_id, topic, .. } => emit(json!({
                "event": "subscribed",
                "peer": peer_id.to_string(),
                "topic": topic.to_string(),
            })),
            _ => {}
        },
        SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => match event {
            relay::client::Event::ReservationReqAccepted { relay_peer_id, .. } => {
                emit(json!({ "event": "reserved", "relay": relay_peer_id.to_string() }))
            }
            relay::client::Event::InboundCircuitEstablished { src_peer_id, .. } => {
                emit(json!({ "event": "relayed", "peer": src_peer_id.to_string(), "direction": "inbound" }))
            }
            relay::client::Event::OutboundCircuitEstablished { relay_peer_id, .. } => {
                emit(json!({ "event": "relayed", "relay": relay_peer_id.to_string(), "direction": "outbound" }))
            }
        },
        _ => {}
    }
}
