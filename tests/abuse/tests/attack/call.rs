//! Calls any method of any service by its descriptor, with a body of raw
//! bytes: a valid message encoded from a `DynamicMessage`, or bytes that
//! are not protobuf at all. Answers come back as raw bytes too, so nothing
//! on this side can fail to decode what a server sends.

use std::{str::FromStr, time::Duration};

use bytes::{Buf, BufMut};
use http::uri::PathAndQuery;
use prost_reflect::MethodDescriptor;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

/// Long enough for a sync run against the reference ERP; a call that
/// takes longer is reported as hanging.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
struct RawEncoder;

#[derive(Debug, Clone, Copy, Default)]
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

/// What a call gave: the messages received (several for a stream), then
/// the status it ended with (None: OK), or that it never ended.
#[derive(Debug)]
pub struct Outcome {
    pub bodies: Vec<Vec<u8>>,
    pub status: Option<Status>,
    pub timed_out: bool,
}

impl Outcome {
    pub fn code(&self) -> Option<Code> {
        self.status.as_ref().map(Status::code)
    }
}

/// Calls `method` on `channel` as the bearer of `token` with `body`;
/// a streamed answer is drained (a client-streaming method gets `body` as
/// its only message).
pub async fn call(
    channel: &Channel,
    method: &MethodDescriptor,
    token: &str,
    body: Vec<u8>,
) -> Outcome {
    let run = async {
        let mut bodies = Vec::new();
        let status = exchange(channel.clone(), method, token, body, &mut bodies)
            .await
            .err();
        Outcome {
            bodies,
            status,
            timed_out: false,
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, run)
        .await
        .unwrap_or(Outcome {
            bodies: Vec::new(),
            status: None,
            timed_out: true,
        })
}

async fn exchange(
    channel: Channel,
    method: &MethodDescriptor,
    token: &str,
    body: Vec<u8>,
    bodies: &mut Vec<Vec<u8>>,
) -> Result<(), Status> {
    let path = PathAndQuery::from_str(&format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .map_err(|e| Status::invalid_argument(format!("bad path: {e}")))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
    let mut stream = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => {
            let answer = grpc.unary(request(token, body), path, RawCodec).await?;
            bodies.push(answer.into_inner());
            return Ok(());
        }
        (false, true) => grpc
            .server_streaming(request(token, body), path, RawCodec)
            .await?
            .into_inner(),
        (true, _) => grpc
            .streaming(
                request(token, tokio_stream::iter(vec![body])),
                path,
                RawCodec,
            )
            .await?
            .into_inner(),
    };
    while let Some(m) = stream.message().await? {
        bodies.push(m);
    }
    Ok(())
}

fn request<T>(token: &str, msg: T) -> tonic::Request<T> {
    relais_platform::testing::with_token(token, msg)
}
