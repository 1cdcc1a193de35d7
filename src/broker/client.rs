//! A minimal Kafka client connection: one request at a time, for the
//! broker's replica fetchers.

use super::wire;
use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Connection {
    stream: TcpStream,
    client_id: String,
    next_correlation: i32,
}

impl Connection {
    pub async fn connect(address: &str, client_id: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Connection {
            stream,
            client_id: client_id.to_string(),
            next_correlation: 0,
        })
    }

    pub async fn request<Q: Encodable, A: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Q,
    ) -> Result<A, String> {
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let correlation_id = self.next_correlation;
        let frame = wire::encode_request(api, version, correlation_id, &self.client_id, request)?;
        let io = |e: std::io::Error| format!("{api:?}: {e}");
        self.stream.write_all(&frame).await.map_err(io)?;
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).await.map_err(io)?;
        let size = wire::frame_size(prefix)?;
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body).await.map_err(io)?;
        wire::decode_response(api, version, correlation_id, Bytes::from(body))
    }
}
