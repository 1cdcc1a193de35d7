//! Producer ids for InitProducerId, unique across brokers and restarts:
//! `(broker id << 40) | counter`, the counter reserved in blocks written
//! durably before any id of the block is handed out (as Kafka's
//! ProducerIdManager reserves blocks), so a restart skips at most the rest
//! of a block and never repeats an id.

use crate::broker::partition::BrokerId;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "producer-id-block";
const BLOCK: u64 = 1000;
/// Bits of the counter below the broker id: 2^40 ids per broker.
const COUNTER_BITS: u32 = 40;
/// Broker ids above this would make producer ids negative.
pub const BROKER_ID_MAX: BrokerId = (1 << (63 - COUNTER_BITS)) - 1;

pub struct ProducerIds {
    broker: BrokerId,
    path: PathBuf,
    next: u64,
    /// The first counter not reserved on disk.
    reserved_until: u64,
}

impl ProducerIds {
    pub fn open(broker: BrokerId, data_dir: &Path) -> Result<Self, String> {
        if !(0..=BROKER_ID_MAX).contains(&broker) {
            return Err(format!(
                "node id {broker}: must be between 0 and {BROKER_ID_MAX}"
            ));
        }
        let path = data_dir.join(FILE);
        let next = match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{}: expected one counter", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(ProducerIds {
            broker,
            path,
            next,
            reserved_until: next,
        })
    }

    /// The next producer id.
    pub fn allocate(&mut self) -> Result<i64, String> {
        if self.next >= 1 << COUNTER_BITS {
            return Err("this broker has handed out every producer id it has".into());
        }
        if self.next == self.reserved_until {
            self.reserve(self.next + BLOCK)?;
        }
        let id = (i64::from(self.broker) << COUNTER_BITS) | self.next as i64;
        self.next += 1;
        Ok(id)
    }

    fn reserve(&mut self, until: u64) -> Result<(), String> {
        let tmp = self.path.with_extension("tmp");
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(format!("{until}\n").as_bytes())?;
            f.sync_all()
        });
        written.map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        fs::rename(&tmp, &self.path)
            .map_err(|e| format!("cannot replace {}: {e}", self.path.display()))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| format!("cannot fsync {}: {e}", dir.display()))?;
        }
        self.reserved_until = until;
        Ok(())
    }
}

impl super::Node {
    /// An idempotent producer's id (transactions are not implemented). A
    /// producer asking to bump its epoch (KIP-360) gets a fresh id instead:
    /// this broker keeps no record of which ids it gave whom.
    pub fn init_producer_id(
        &mut self,
        request: &InitProducerIdRequest,
    ) -> Result<InitProducerIdResponse, String> {
        let mut response = InitProducerIdResponse::default();
        if request.transactional_id.is_some() {
            response.error_code = super::errors::INVALID_REQUEST;
            return Ok(response);
        }
        response.producer_id = ProducerId(self.producer_ids.allocate()?);
        response.producer_epoch = 0;
        Ok(response)
    }
}
