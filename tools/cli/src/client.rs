//! How a command reaches a service: a channel to its address, and a
//! request carrying a bearer token.

use anyhow::Context;
use tonic::{Request, transport::Channel};

pub async fn connect(addr: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(addr.to_owned())?
        .connect()
        .await
        .with_context(|| format!("cannot reach {addr}: is `make run` running?"))
}

pub fn authed<T>(token: &str, msg: T) -> anyhow::Result<Request<T>> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(req)
}

/// A refused call, printed as its code and the service's message.
pub fn refused(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("refused ({:?}): {}", status.code(), status.message())
}
