//! Kafka's wire protocol at the broker: size-prefixed frames, the request
//! header, requests decoded and responses encoded with the `kafka-protocol`
//! crate. Only the APIs and versions in [`SUPPORTED`] are taken, and only
//! they are advertised by ApiVersions; anything else closes the connection,
//! as Kafka does, except an ApiVersions of a newer version, which is
//! answered at version 0 with UNSUPPORTED_VERSION and the list (KIP-511).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

/// Kafka's `socket.request.max.bytes`: a frame announcing more is refused
/// before any of it is read.
pub const FRAME_BYTES_MAX: usize = 100 << 20;

/// `(api, min version, max version)` this broker implements.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 4),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 3),
    (ApiKey::Heartbeat, 0, 3),
    (ApiKey::LeaveGroup, 0, 3),
    (ApiKey::OffsetCommit, 2, 7),
    (ApiKey::OffsetFetch, 1, 7),
];

use crate::error_codes::UNSUPPORTED_VERSION;

pub fn supported(api: ApiKey, version: i16) -> bool {
    SUPPORTED
        .iter()
        .any(|&(key, min, max)| key == api && (min..=max).contains(&version))
}

/// ApiVersions' list.
pub fn api_versions() -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    for &(key, min, max) in SUPPORTED {
        let mut v = ApiVersion::default();
        v.api_key = key as i16;
        v.min_version = min;
        v.max_version = max;
        response.api_keys.push(v);
    }
    response
}

#[derive(Debug)]
pub enum Request {
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    Metadata(MetadataRequest),
    ApiVersions(ApiVersionsRequest),
    CreateTopics(CreateTopicsRequest),
    InitProducerId(InitProducerIdRequest),
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
}

#[derive(Debug)]
pub enum Response {
    Produce(ProduceResponse),
    Fetch(FetchResponse),
    ListOffsets(ListOffsetsResponse),
    Metadata(MetadataResponse),
    ApiVersions(ApiVersionsResponse),
    CreateTopics(CreateTopicsResponse),
    InitProducerId(InitProducerIdResponse),
    OffsetForLeaderEpoch(OffsetForLeaderEpochResponse),
    FindCoordinator(FindCoordinatorResponse),
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    LeaveGroup(LeaveGroupResponse),
    OffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
}

/// A request with what its response needs.
#[derive(Debug)]
pub struct Framed {
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: String,
    pub request: Request,
}

/// Why a frame gets no ordinary answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Answer this, then carry on: an ApiVersions this broker cannot parse.
    Answer(Bytes),
    /// Close the connection; the sentence says why.
    Close(String),
}

/// Decodes one frame (without its size prefix). A frame with bytes left
/// over after the request is refused: it is not what it claims to be.
pub fn decode(frame: Bytes) -> Result<Framed, Refusal> {
    let close = |why: String| Refusal::Close(why);
    if frame.len() < 8 {
        return Err(close(format!(
            "a frame of {} bytes has no header",
            frame.len()
        )));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(key).map_err(|_| close(format!("unknown API key {key}")))?;
    if !supported(api, version) {
        if api == ApiKey::ApiVersions {
            let mut response = api_versions();
            response.error_code = UNSUPPORTED_VERSION;
            let bytes =
                encode(api, 0, correlation_id, &Response::ApiVersions(response)).map_err(close)?;
            return Err(Refusal::Answer(bytes));
        }
        return Err(close(format!(
            "{api:?} version {version} is not implemented"
        )));
    }
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, api.request_header_version(version))
        .map_err(|e| close(format!("bad {api:?} header: {e}")))?;
    let request = decode_body(api, version, &mut buf)
        .map_err(|e| close(format!("bad {api:?} v{version} request: {e}")))?;
    if buf.has_remaining() {
        return Err(close(format!(
            "{} bytes left over after a {api:?} v{version} request",
            buf.remaining()
        )));
    }
    Ok(Framed {
        api,
        version,
        correlation_id: header.correlation_id,
        client_id: header.client_id.map(|c| c.to_string()).unwrap_or_default(),
        request,
    })
}

fn decode_body(api: ApiKey, version: i16, buf: &mut Bytes) -> Result<Request, String> {
    fn body<T: Decodable>(buf: &mut Bytes, version: i16) -> Result<T, String> {
        T::decode(buf, version).map_err(|e| e.to_string())
    }
    Ok(match api {
        ApiKey::Produce => Request::Produce(body(buf, version)?),
        ApiKey::Fetch => Request::Fetch(body(buf, version)?),
        ApiKey::ListOffsets => Request::ListOffsets(body(buf, version)?),
        ApiKey::Metadata => Request::Metadata(body(buf, version)?),
        ApiKey::ApiVersions => Request::ApiVersions(body(buf, version)?),
        ApiKey::CreateTopics => Request::CreateTopics(body(buf, version)?),
        ApiKey::InitProducerId => Request::InitProducerId(body(buf, version)?),
        ApiKey::OffsetForLeaderEpoch => Request::OffsetForLeaderEpoch(body(buf, version)?),
        ApiKey::FindCoordinator => Request::FindCoordinator(body(buf, version)?),
        ApiKey::JoinGroup => Request::JoinGroup(body(buf, version)?),
        ApiKey::SyncGroup => Request::SyncGroup(body(buf, version)?),
        ApiKey::Heartbeat => Request::Heartbeat(body(buf, version)?),
        ApiKey::LeaveGroup => Request::LeaveGroup(body(buf, version)?),
        ApiKey::OffsetCommit => Request::OffsetCommit(body(buf, version)?),
        ApiKey::OffsetFetch => Request::OffsetFetch(body(buf, version)?),
        other => return Err(format!("{other:?} is not implemented")),
    })
}

/// The whole frame of a response: size, header, body.
pub fn encode(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &Response,
) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut buf, api.response_header_version(version))
        .map_err(|e| e.to_string())?;
    let encoded = match response {
        Response::Produce(r) => r.encode(&mut buf, version),
        Response::Fetch(r) => r.encode(&mut buf, version),
        Response::ListOffsets(r) => r.encode(&mut buf, version),
        Response::Metadata(r) => r.encode(&mut buf, version),
        Response::ApiVersions(r) => r.encode(&mut buf, version),
        Response::CreateTopics(r) => r.encode(&mut buf, version),
        Response::InitProducerId(r) => r.encode(&mut buf, version),
        Response::OffsetForLeaderEpoch(r) => r.encode(&mut buf, version),
        Response::FindCoordinator(r) => r.encode(&mut buf, version),
        Response::JoinGroup(r) => r.encode(&mut buf, version),
        Response::SyncGroup(r) => r.encode(&mut buf, version),
        Response::Heartbeat(r) => r.encode(&mut buf, version),
        Response::LeaveGroup(r) => r.encode(&mut buf, version),
        Response::OffsetCommit(r) => r.encode(&mut buf, version),
        Response::OffsetFetch(r) => r.encode(&mut buf, version),
    };
    encoded.map_err(|e| format!("cannot encode a {api:?} v{version} response: {e}"))?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| "a response over 2 GiB".to_string())?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// A request frame, size included, as a client sends it: for the broker's
/// own fetchers and for tests.
pub fn encode_request<R: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    request: &R,
) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    let mut header = RequestHeader::default();
    header.request_api_key = api as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(kafka_protocol::protocol::StrBytes::from_string(
        client_id.to_string(),
    ));
    header
        .encode(&mut buf, api.request_header_version(version))
        .map_err(|e| e.to_string())?;
    request
        .encode(&mut buf, version)
        .map_err(|e| format!("cannot encode a {api:?} v{version} request: {e}"))?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| "a request over 2 GiB".to_string())?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Decodes a response frame (without its size prefix) to `R`, checking
/// the correlation id.
pub fn decode_response<R: Decodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<R, String> {
    let mut buf = frame;
    let header = ResponseHeader::decode(&mut buf, api.response_header_version(version))
        .map_err(|e| format!("bad {api:?} response header: {e}"))?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "a response to request {} where {correlation_id} was expected",
            header.correlation_id
        ));
    }
    R::decode(&mut buf, version).map_err(|e| format!("bad {api:?} v{version} response: {e}"))
}

/// The size a frame's 4-byte prefix announces, if it is one to read.
pub fn frame_size(prefix: [u8; 4]) -> Result<usize, String> {
    let size = i32::from_be_bytes(prefix);
    usize::try_from(size)
        .ok()
        .filter(|&n| n <= FRAME_BYTES_MAX)
        .ok_or_else(|| format!("a frame of {size} bytes is refused (limit {FRAME_BYTES_MAX})"))
}
