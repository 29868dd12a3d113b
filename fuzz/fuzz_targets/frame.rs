//! The connection's front door: frames cut from an arbitrary byte stream by the
//! FrameReader (delivered in reads of arbitrary sizes), and each frame's api key,
//! version, request header and body decoded as a connection decodes them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runnel::server::{FrameReader, decode_request};
use runnel_fuzz::ChunkedReader;

/// Frame limit of the reader: small, so the too-large path is reachable.
const MAX_FRAME: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let mut frames = FrameReader::new(ChunkedReader::new(stream, chunk), MAX_FRAME);
    futures::executor::block_on(async {
        while let Ok(Some(frame)) = frames.next().await {
            let _ = decode_request(frame);
        }
    });
});
