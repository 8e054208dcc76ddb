//! The Subscribe codec: responses are snapshot frames encoded once by the publisher
//! (SPEC §12), so the encoder copies bytes instead of encoding a message per subscriber.

use policy_proto::v1::SubscribeRequest;
use prost::bytes::{BufMut as _, Bytes};
use tonic::Status;
use tonic::codec::{Codec, EncodeBuf, Encoder};

/// An encoded `SubscribeResponse`, as built by [`crate::sync::snapshot`].
#[derive(Debug, Clone)]
pub(crate) struct Frame(pub(crate) Bytes);

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SubscribeCodec;

impl Codec for SubscribeCodec {
    type Encode = Frame;
    type Decode = SubscribeRequest;
    type Encoder = FrameEncoder;
    type Decoder = tonic_prost::ProstDecoder<SubscribeRequest>;

    fn encoder(&mut self) -> Self::Encoder {
        FrameEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameEncoder;

impl Encoder for FrameEncoder {
    type Item = Frame;
    type Error = Status;

    fn encode(&mut self, item: Frame, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item.0);
        Ok(())
    }
}
