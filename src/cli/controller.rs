//! `kafka-oracle controller`: the cluster's controller process.

use super::properties_file::apply_settings;
use crate::controller::server;
use crate::controller::state::{ControllerConfig, KNOBS};
use crate::controller::store::Store;
use clap::Args;

#[derive(Args)]
pub struct ControllerArgs {
    /// Address to listen on for broker sessions, e.g. 127.0.0.1:9093 (port
    /// 0 picks a free one; the address is printed on stdout).
    #[arg(long, value_name = "ADDR", required_unless_present = "knobs")]
    listen: Option<String>,
    /// Directory of the controller's durable state.
    #[arg(long, value_name = "DIR", required_unless_present = "knobs")]
    data_dir: Option<String>,
    /// A setting by Kafka's name (repeatable), applied after --config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Settings from a Kafka .properties file.
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

pub fn run(args: ControllerArgs) -> Result<u8, String> {
    if args.knobs {
        for (name, what) in KNOBS {
            say!("{name:32} {what}");
        }
        return Ok(0);
    }
    let missing = |flag: &str| format!("controller: {flag} is required");
    let listen = args.listen.ok_or_else(|| missing("--listen"))?;
    let data_dir = args.data_dir.ok_or_else(|| missing("--data-dir"))?;
    let mut config = ControllerConfig::default();
    apply_settings(args.config.as_deref(), &args.set, |k, v| config.set(k, v))?;
    let store = Store::open(&data_dir)?;
    // Read before saying "listening": a state that cannot be read stops
    // the controller before anyone takes it for started.
    let previous = store.load()?;
    super::serve(args.exit_with_stdin, |stopping| async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        say!("controller listening on {address}");
        server::run(listener, store, previous, config, stopping).await
    })
}
