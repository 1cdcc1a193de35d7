//! The request decoding path: every supported API and version decodes what
//! a client encodes; truncated, padded, unknown and mutated frames are
//! refused, never a panic.

use bytes::Bytes;
use kafka_oracle::broker::wire::{self, Refusal, Request, SUPPORTED};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use proptest::prelude::*;

/// A request frame without its size prefix.
fn frame<R: Encodable>(api: ApiKey, version: i16, request: &R) -> Bytes {
    wire::encode_request(api, version, 42, "test", request)
        .unwrap()
        .slice(4..)
}

/// One valid frame of every supported API and version.
fn valid_frames() -> Vec<(ApiKey, i16, Bytes)> {
    let mut frames = Vec::new();
    for &(api, min, max) in SUPPORTED {
        for v in min..=max {
            let f = match api {
                ApiKey::Produce => {
                    let mut r = ProduceRequest::default();
                    r.acks = -1;
                    let mut t = produce_request::TopicProduceData::default();
                    t.name = TopicName("t".to_string().into());
                    let mut p = produce_request::PartitionProduceData::default();
                    p.records = Some(Bytes::from_static(b"not a batch"));
                    t.partition_data.push(p);
                    r.topic_data.push(t);
                    frame(api, v, &r)
                }
                ApiKey::Fetch => {
                    let mut r = FetchRequest::default();
                    let mut t = fetch_request::FetchTopic::default();
                    t.topic = TopicName("t".to_string().into());
                    t.partitions.push(fetch_request::FetchPartition::default());
                    r.topics.push(t);
                    frame(api, v, &r)
                }
                ApiKey::ListOffsets => frame(api, v, &ListOffsetsRequest::default()),
                ApiKey::Metadata => {
                    let mut r = MetadataRequest::default();
                    let mut t = metadata_request::MetadataRequestTopic::default();
                    t.name = Some(TopicName("t".to_string().into()));
                    r.topics = Some(vec![t]);
                    frame(api, v, &r)
                }
                ApiKey::ApiVersions => frame(api, v, &ApiVersionsRequest::default()),
                ApiKey::CreateTopics => frame(api, v, &CreateTopicsRequest::default()),
                ApiKey::InitProducerId => frame(api, v, &InitProducerIdRequest::default()),
                ApiKey::OffsetForLeaderEpoch => {
                    frame(api, v, &OffsetForLeaderEpochRequest::default())
                }
                other => frame_for_group_api(other, v),
            };
            frames.push((api, v, f));
        }
    }
    frames
}

fn frame_for_group_api(api: ApiKey, v: i16) -> Bytes {
    match api {
        ApiKey::FindCoordinator => frame(api, v, &FindCoordinatorRequest::default()),
        ApiKey::JoinGroup => frame(api, v, &JoinGroupRequest::default()),
        ApiKey::SyncGroup => frame(api, v, &SyncGroupRequest::default()),
        ApiKey::Heartbeat => frame(api, v, &HeartbeatRequest::default()),
        ApiKey::LeaveGroup => frame(api, v, &LeaveGroupRequest::default()),
        ApiKey::OffsetCommit => frame(api, v, &OffsetCommitRequest::default()),
        ApiKey::OffsetFetch => frame(api, v, &OffsetFetchRequest::default()),
        other => panic!("no test frame for {other:?}"),
    }
}

#[test]
fn every_supported_version_decodes_what_a_client_encodes() {
    for (api, v, f) in valid_frames() {
        let framed = wire::decode(f).unwrap_or_else(|e| panic!("{api:?} v{v}: {e:?}"));
        assert_eq!(
            (framed.api, framed.version, framed.correlation_id),
            (api, v, 42)
        );
        if let Request::Produce(r) = framed.request {
            assert_eq!(r.acks, -1);
            assert_eq!(r.topic_data[0].name.0.as_str(), "t");
        }
    }
}

#[test]
fn api_versions_advertises_exactly_what_decodes() {
    let advertised = wire::api_versions();
    assert_eq!(advertised.api_keys.len(), SUPPORTED.len());
    for v in &advertised.api_keys {
        let api = ApiKey::try_from(v.api_key).unwrap();
        assert!(wire::supported(api, v.min_version) && wire::supported(api, v.max_version));
        assert!(!wire::supported(api, v.max_version + 1));
        assert!(!wire::supported(api, v.min_version - 1));
    }
}

#[test]
fn unknown_apis_and_versions_close_the_connection() {
    let mut f = frame(ApiKey::Metadata, 1, &MetadataRequest::default()).to_vec();
    f[..2].copy_from_slice(&999i16.to_be_bytes());
    assert!(
        matches!(wire::decode(Bytes::from(f)), Err(Refusal::Close(why)) if why.contains("unknown API key 999"))
    );
    let f = frame(ApiKey::Metadata, 13, &MetadataRequest::default());
    assert!(matches!(wire::decode(f), Err(Refusal::Close(why)) if why.contains("not implemented")));
    let f = frame(ApiKey::DescribeAcls, 2, &DescribeAclsRequest::default());
    assert!(matches!(wire::decode(f), Err(Refusal::Close(_))));
}

#[test]
fn a_newer_api_versions_is_answered_at_version_0_with_the_list() {
    let f = frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).to_vec();
    let mut newer = f.clone();
    newer[2..4].copy_from_slice(&9i16.to_be_bytes());
    let Err(Refusal::Answer(answer)) = wire::decode(Bytes::from(newer)) else {
        panic!("a newer ApiVersions is answered");
    };
    let response: ApiVersionsResponse =
        wire::decode_response(ApiKey::ApiVersions, 0, 42, answer.slice(4..)).unwrap();
    assert_eq!(response.error_code, 35);
    assert_eq!(response.api_keys.len(), SUPPORTED.len());
}

#[test]
fn truncated_and_padded_frames_are_refused() {
    for (api, v, f) in valid_frames() {
        for cut in 0..f.len() {
            assert!(
                matches!(wire::decode(f.slice(..cut)), Err(Refusal::Close(_))),
                "{api:?} v{v} cut at {cut} of {}",
                f.len()
            );
        }
        let mut padded = f.to_vec();
        padded.push(0);
        assert!(
            matches!(wire::decode(Bytes::from(padded)), Err(Refusal::Close(why)) if why.contains("left over")),
            "{api:?} v{v} with a byte too many"
        );
    }
}

#[test]
fn absurd_frame_sizes_are_refused_before_reading() {
    assert!(wire::frame_size((-1i32).to_be_bytes()).is_err());
    assert!(wire::frame_size(i32::MAX.to_be_bytes()).is_err());
    assert_eq!(wire::frame_size(100i32.to_be_bytes()), Ok(100));
}

#[test]
fn an_array_announcing_more_elements_than_bytes_is_refused() {
    // Metadata v1: header, then the topics array's length: i32::MAX topics
    // in a few bytes.
    let mut f = frame(ApiKey::Metadata, 1, &MetadataRequest::default()).to_vec();
    let n = f.len();
    f[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        wire::decode(Bytes::from(f)),
        Err(Refusal::Close(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// Any bytes after a supported API's header: refused or decoded, never a panic.
    #[test]
    fn arbitrary_bodies_never_panic(which in 0..SUPPORTED.len(), version_pick in 0i16..16, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (api, min, max) = SUPPORTED[which];
        let version = min + version_pick % (max - min + 1);
        let mut f = Vec::new();
        f.extend_from_slice(&(api as i16).to_be_bytes());
        f.extend_from_slice(&version.to_be_bytes());
        f.extend_from_slice(&body);
        let _ = wire::decode(Bytes::from(f));
    }

    /// Valid frames with bytes changed: refused or decoded, never a panic.
    #[test]
    fn mutated_frames_never_panic(which in any::<proptest::sample::Index>(), flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8)) {
        let frames = valid_frames();
        let (_, _, f) = &frames[which.index(frames.len())];
        let mut f = f.to_vec();
        for (at, byte) in flips {
            let i = at.index(f.len());
            f[i] = byte;
        }
        let _ = wire::decode(Bytes::from(f));
    }
}

/// The kept corpus: frames that once broke a decoder or sit at its edges
/// (tests/broker/corpus/*.hex, one frame without its size prefix per file,
/// in hex). Each must be refused, never decoded into a request and never a
/// panic; a new crash found by the proptests above belongs here too.
#[test]
fn the_corpus_of_hostile_frames_is_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broker/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus directory") {
        let path = entry.expect("a corpus entry").path();
        let text = std::fs::read_to_string(&path).expect("a corpus file");
        let hex = text.trim();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        assert!(
            wire::decode(Bytes::from(bytes)).is_err(),
            "{} decoded",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 9, "only {seen} corpus files");
}
