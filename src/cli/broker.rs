//! `kafka-oracle broker`: one broker process.

use super::properties_file::apply_settings;
use crate::broker::config::{BrokerConfig, KNOBS};
use crate::broker::node::Node;
use crate::broker::server;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct BrokerArgs {
    /// This broker's id (Kafka's node.id), 0 or more.
    #[arg(long, value_name = "N", required_unless_present = "knobs")]
    node_id: Option<i32>,
    /// Address to listen on for Kafka clients and other brokers, e.g.
    /// 127.0.0.1:9092; it is also the address advertised to them.
    #[arg(long, value_name = "ADDR", required_unless_present = "knobs")]
    listen: Option<String>,
    /// Directory of the broker's partition logs.
    #[arg(long, value_name = "DIR", required_unless_present = "knobs")]
    data_dir: Option<String>,
    /// The controller's address, HOST:PORT. While it cannot be reached the
    /// broker says so on stderr and tries again, backing off to 5 s.
    #[arg(long, value_name = "ADDR", required_unless_present = "knobs")]
    controller: Option<String>,
    /// A setting by Kafka's name (repeatable), applied after --config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Settings from a Kafka server.properties file.
    #[arg(long, value_name = "FILE")]
    config: Option<String>,
    /// List the settings and exit.
    #[arg(long)]
    knobs: bool,
    /// Exit when standard input closes: how `cluster` makes sure its
    /// children do not outlive it.
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

pub fn run(args: BrokerArgs) -> Result<u8, String> {
    if args.knobs {
        for (name, what) in KNOBS.iter().chain(crate::log::KNOBS) {
            say!("{name:46} {what}");
        }
        return Ok(0);
    }
    let missing = |flag: &str| format!("broker: {flag} is required");
    let node_id = args.node_id.ok_or_else(|| missing("--node-id"))?;
    let listen = args.listen.ok_or_else(|| missing("--listen"))?;
    let data_dir = args.data_dir.ok_or_else(|| missing("--data-dir"))?;
    let controller = args.controller.ok_or_else(|| missing("--controller"))?;
    check_address(&controller)
        .map_err(|why| format!("broker: --controller {controller:?}: {why}"))?;
    let mut config = BrokerConfig::default();
    apply_settings(args.config.as_deref(), &args.set, |k, v| config.set(k, v))?;
    let node = Node::open(node_id, PathBuf::from(data_dir), config)?;
    super::serve(args.exit_with_stdin, |stopping| async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        say!("broker {node_id} listening on {address}");
        server::run(node, listener, controller, stopping).await
    })
}

/// HOST:PORT, as a socket address is written: whether it names a host
/// that resolves is for the connection to find out (and retry).
fn check_address(address: &str) -> Result<(), String> {
    let (host, port) = address.rsplit_once(':').ok_or("not HOST:PORT (no port)")?;
    if host.is_empty() {
        return Err("not HOST:PORT (no host)".into());
    }
    port.parse::<u16>()
        .map_err(|_| format!("the port {port:?} is not a number from 0 to 65535"))?;
    Ok(())
}
